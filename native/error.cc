// Failure reporting from the child, and the small string helpers it uses instead
// of snprintf (which is not async-signal-safe).
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

namespace cb {

char* str_append(char* dst, const char* end, const char* src) {
  while (*src != '\0' && dst + 1 < end) *dst++ = *src++;
  *dst = '\0';
  return dst;
}

char* str_append_uint(char* dst, const char* end, unsigned long long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0 && dst + 1 < end) *dst++ = digits[--n];
  *dst = '\0';
  return dst;
}

void child_fail(const Plan& plan, Layer layer, const char* step, const char* path) {
  Failure failure;
  memset(&failure, 0, sizeof failure);
  failure.layer = layer;
  failure.err = errno;
  char* end = failure.what + sizeof failure.what;
  char* p = str_append(failure.what, end, step);
  if (path != nullptr) {
    p = str_append(p, end, " ");
    str_append(p, end, path);
  }
  // One write of a small struct to a pipe is atomic; nothing to do if it fails.
  ssize_t ignored = write(plan.error_fd, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

}  // namespace cb

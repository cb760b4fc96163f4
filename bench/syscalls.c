// The overhead benchmark's syscall-heavy load: COUNT getppid(2) calls, each a
// full trip through the kernel's entry path and so through any seccomp filter.
// Made with syscall(2): a libc may answer some calls without entering the kernel.
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long count = argc > 1 ? atol(argv[1]) : 1000000;
  long sum = 0;
  for (long i = 0; i < count; i++) sum += syscall(SYS_getppid);
  __asm__ volatile("" : : "r"(sum));  // the calls' results are otherwise unused
  return 0;
}

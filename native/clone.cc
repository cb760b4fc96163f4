#include "clone.h"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cb {

namespace {

// Raw rt_sigprocmask: glibc's wrappers refuse to block the two signals it uses
// internally (32 and 33), and a Node handler for those must not run in the child.
constexpr size_t kKernelSigsetSize = 8;

void mask_all(unsigned long long& old) {
  unsigned long long all = ~0ULL;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, kKernelSigsetSize);
}

void restore_mask(const unsigned long long& old) {
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, kKernelSigsetSize);
}

}  // namespace

pid_t clone_quiet(int (*fn)(void*), void* stack_top, int flags, void* arg) {
  unsigned long long old = 0;
  mask_all(old);
  // A raw call: glibc's setgroups would apply to every thread of Node.
  syscall(SYS_setgroups, 0, nullptr);
  pid_t pid = clone(fn, stack_top, flags, arg);
  restore_mask(old);
  return pid;
}

}  // namespace cb

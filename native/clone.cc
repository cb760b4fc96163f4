#include "clone.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cb {

pid_t clone_quiet(int (*fn)(void*), void* stack_top, int flags, void* arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // A raw call: glibc's setgroups would apply to every thread of Node.
  syscall(SYS_setgroups, 0, nullptr);
  pid_t pid = clone(fn, stack_top, flags, arg);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

}  // namespace cb

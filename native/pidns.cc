#include "pidns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clone.h"

namespace cb {

namespace {

constexpr size_t kHelperStackSize = 16 * 1024;

thread_local bool misplaced = false;

// Born in the sandbox's namespace, still host root: the counter it sets is that
// namespace's (the kernel takes the writer's).
int write_last_pid(void*) {
  int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
  _exit(fd >= 0 && write(fd, "1", 1) == 1 ? 0 : 1);
}

}  // namespace

bool pidns_restart_numbering(int init_pidfd) {
  static const int own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (own < 0 || setns(init_pidfd, CLONE_NEWPID) != 0) return false;
  alignas(16) char stack[kHelperStackSize];
  pid_t helper = clone_quiet(write_last_pid, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
  int status = -1;
  while (helper > 0 && waitpid(helper, &status, __WALL) < 0 && errno == EINTR) {
  }
  // Only this thread's children were affected: back to our own namespace.
  misplaced = setns(own, CLONE_NEWPID) != 0;
  return helper > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !misplaced;
}

bool pidns_thread_in_place() { return !misplaced; }

}  // namespace cb

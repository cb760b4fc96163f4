#include "clone.h"

#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <shared_mutex>

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

std::shared_mutex& clone_lock() {
  static std::shared_mutex& lock = *new std::shared_mutex;  // never destroyed: threads outlive exit
  return lock;
}

pid_t clone_quiet(int (*fn)(void*), void* stack_top, int flags, void* arg) {
  unsigned long long old = 0;
  mask_all(old);
  // A raw call: glibc's setgroups would apply to every thread of Node.
  syscall(SYS_setgroups, 0, nullptr);
  pid_t pid;
  {
    std::unique_lock<std::shared_mutex> lock(clone_lock());
    pid = clone(fn, stack_top, flags, arg);
  }
  restore_mask(old);
  return pid;
}

namespace {

// The holder: waits for end-of-file, then exits. Every other fd goes first —
// write ends of this pipe (ours) and of other holders' pipes (inherited from
// Node's table) alike — or end-of-file would never come.
int hold_namespace(void* arg) {
  const int* pipe_fds = static_cast<int*>(arg);
  prctl(PR_SET_NAME, "cb-ns-holder");
  fds_close_except(&pipe_fds[0], 1);
  char byte;
  while (read(pipe_fds[0], &byte, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

}  // namespace

int hold_new_namespace(int clone_flag, const char* name, const std::function<bool(pid_t)>& configure,
                       std::string& error) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error = std::string("namespace: pipe: ") + strerror(errno);
    return -1;
  }
  constexpr size_t kStack = 64 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  pid_t pid = stack == MAP_FAILED ? -1 : clone_quiet(hold_namespace, static_cast<char*>(stack) + kStack, CLONE_VM | clone_flag, pipe_fds);
  if (pid < 0) error = std::string("namespace: clone: ") + strerror(errno);
  int fd = -1;
  if (pid > 0 && configure(pid)) {
    std::string path = "/proc/" + std::to_string(pid) + "/ns/" + name;
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) error = "namespace: open " + path + ": " + strerror(errno);
  }
  close(pipe_fds[1]);
  close(pipe_fds[0]);
  if (pid > 0) {
    siginfo_t info;
    waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | __WALL);
  }
  if (stack != MAP_FAILED) munmap(stack, kStack);
  return fd;
}

}  // namespace cb

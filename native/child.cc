// The two processes inside the sandbox, in the order they run.
//
// init (pid 1 of the new pid namespace) is cloned by the supervisor with CLONE_VM:
// it shares the Node address space until it exits, so it only makes raw system
// calls. Still host root, it builds the root and pivots into it, then enters the slot's user namespace, clones the program
// (CLONE_VM|CLONE_VFORK, the posix_spawn way), reaps every process of the tree and
// reports the program's wait status. When init exits the kernel kills whatever is
// left in the namespace.
//
// The program joins the run's cgroups, drops everything it will never need (uid,
// capabilities, rlimits, Landlock, seccomp), then execs.
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

namespace cb {

namespace {


// The program's stack lives on init's: init is suspended (CLONE_VFORK) until the
// program execs, and only then touches its own stack again.
constexpr size_t kProgramStackSize = 256 * 1024;

// The kernel's struct sigaction, for raw rt_sigaction: glibc's wrapper refuses
// signals 32 and 33, whose Node handlers the child inherited.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long long mask;
};

void signals_reset_to_default() {
  KernelSigaction action{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &action, nullptr, sizeof action.mask);
  }
}

void signals_unblock_all() {
  unsigned long long none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
}

// The slot's empty network namespace (see netns.cc), entered while still root.
void enter_network_namespace(const Plan& plan) {
  if (plan.netns_fd < 0) return;  // tests only: the network layer turned off
  if (setns(plan.netns_fd, CLONE_NEWNET) != 0) child_fail(plan, Layer::Net, "setns", nullptr);
  close(plan.netns_fd);
}

// The sandbox is built; from here on init is uid 0 of the slot's user namespace
// (an unprivileged host uid), with no power over the namespaces root created.
void enter_user_namespace(const Plan& plan) {
  if (setns(plan.userns_fd, CLONE_NEWUSER) != 0) child_fail(plan, Layer::Userns, "setns", nullptr);
  close(plan.userns_fd);
  // Raw system calls: glibc's set*id would broadcast the change to every thread
  // of the process it believes it is in — Node's.
  if (syscall(SYS_setresgid, kInitUid, kInitUid, kInitUid) != 0) child_fail(plan, Layer::Userns, "setresgid", "0");
  if (syscall(SYS_setresuid, kInitUid, kInitUid, kInitUid) != 0) child_fail(plan, Layer::Userns, "setresuid", "0");
}

// The parent-death signal is cleared by the credential change above: set it
// again, then make sure the supervisor did not die in between (its end of the
// lifeline is then closed), or nobody would ever stop this run.
void stay_tied_to_supervisor(const Plan& plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct pollfd lifeline = {plan.lifeline_fd, POLLIN, 0};
  if (poll(&lifeline, 1, 0) != 0) _exit(126);
}

pid_t start_program(const Plan& plan, char* stack_top) {
  pid_t pid = clone(child_exec_main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<Plan*>(&plan));
  if (pid < 0) child_fail(plan, Layer::Clone, "clone", "program");
  return pid;
}

// Reap everything; return the program's status once it has exited. Orphans
// re-parented to us are reaped too so they never pile up as zombies.
int reap_until_program_exits(pid_t program) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid == program) return status;
    if (pid < 0 && errno != EINTR) return status;
  }
}

// The program joins the run's cgroups itself, as its first step: writing "0"
// moves the writer (v1 `tasks`, v2 `cgroup.procs`), through files the
// supervisor opened. Init never joins them —
// it shares Node's memory, and an OOM kill chosen inside the run's memory cgroup
// must never be able to pick a process whose memory is Node's. Until its execve
// the program shares that memory too, but it has charged nothing yet.
void join_cgroups(const Plan& plan) {
  for (int fd : plan.cgroup_procs_fds) {
    if (write(fd, "0", 1) != 1) child_fail(plan, Layer::Cgroup, "attach", nullptr);
  }
  // Entered only now, inside the run's cgroup: /proc/self/cgroup shows "/".
  if (unshare(CLONE_NEWCGROUP) != 0) child_fail(plan, Layer::Cgroup, "unshare", "CLONE_NEWCGROUP");
}

}  // namespace

int child_init_main(void* arg) {
  const Plan& plan = *static_cast<const Plan*>(arg);
  signals_reset_to_default();
  // Die with the supervisor thread; signals stay blocked in init otherwise.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!fds_close_except(plan.keep_fds.data(), plan.keep_fds.size()))
    child_fail(plan, Layer::Fds, "close_range", nullptr);
  enter_network_namespace(plan);
  if (!mount_build_root(plan)) _exit(127);
  if (!uts_set_names(plan)) _exit(127);
  enter_user_namespace(plan);
  stay_tied_to_supervisor(plan);

  char stack[kProgramStackSize] __attribute__((aligned(16)));
  pid_t program = start_program(plan, stack + sizeof stack);
  // The program no longer needs these in init; closing them lets EOFs arrive.
  close(plan.stdin_fd);
  close(plan.stdout_fd);
  close(plan.stderr_fd);
  close(plan.notify_sock);
  close(plan.lifeline_fd);
  for (int fd : plan.cgroup_procs_fds) close(fd);

  InitReport report;
  report.wait_status = reap_until_program_exits(program);
  if (plan.release_fd >= 0) {
    // Files are to be collected: stop what is left so nothing changes them, keep
    // the namespaces alive until the supervisor has read them (it closes the pipe).
    kill(-1, SIGKILL);
    while (waitpid(-1, nullptr, __WALL) > 0 || errno == EINTR) {
    }
  }
  ssize_t ignored = write(plan.status_fd, &report, sizeof report);
  (void)ignored;
  if (plan.release_fd >= 0) {
    char byte;
    while (read(plan.release_fd, &byte, 1) < 0 && errno == EINTR) {
    }
  }
  _exit(0);
}

int child_exec_main(void* arg) {
  const Plan& plan = *static_cast<const Plan*>(arg);
  join_cgroups(plan);
  umask(022);  // init built the root with 0; the program gets the usual default
  if (!fds_install_stdio(plan)) _exit(127);
  if (!rlimits_apply(plan)) _exit(127);
  if (!caps_drop_all(plan)) _exit(127);
  if (!landlock_apply(plan)) _exit(127);
  // Everything but stdio closes at exec; the error pipe stays usable until then.
  if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
    child_fail(plan, Layer::Fds, "close_range", "cloexec");
  if (plan.filter.len > 0) {
    int listener = seccomp_load(plan);
    if (listener < 0) _exit(127);
    if (!fds_send_fd(plan.notify_sock, listener)) child_fail(plan, Layer::Seccomp, "sendmsg", "listener");
    close(listener);
  }

  signals_unblock_all();
  int first_errno = ENOENT;
  for (const std::string& path : plan.exec_candidates) {
    execve(path.c_str(), plan.argv_ptrs.data(), plan.envp_ptrs.data());
    if (errno != ENOENT && errno != ENOTDIR) {
      first_errno = errno;
      break;
    }
  }
  errno = first_errno;
  child_fail(plan, Layer::Exec, "execve", plan.argv.empty() ? "" : plan.argv[0].c_str());
}

}  // namespace cb

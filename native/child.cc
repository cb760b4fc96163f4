// The processes inside the sandbox, in the order they run.
//
// The sandbox is built before its run is known, and may serve several runs, one
// after the other (native/warm.cc).
//
// init (pid 1 of the new pid namespace) is cloned by the supervisor with CLONE_VM:
// it shares the Node address space until it exits, so it only makes raw system
// calls. Still host root, it builds the root and pivots into it, builds the
// Landlock ruleset, enters the slot's user namespace and clones a program
// (CLONE_VM|CLONE_VFORK, the posix_spawn way). Once the program has execed it
// reaps every process of the tree and reports the program's wait status; then,
// when the supervisor says so, it empties the work dir (native/reset.cc) and
// clones the next run's program. When init exits the kernel kills whatever is
// left in the namespace.
//
// Each program joins the run's cgroups, takes an IPC namespace of its own and
// drops everything it will never need (uid, capabilities, Landlock, seccomp),
// then says it is ready and waits. The go message brings its stdin, stdout and
// stderr; it sets the run's rlimits and execs.
#include <errno.h>
#include <fcntl.h>
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

#include "priority.h"
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

// init closed fds 0-2 at its start, so an fd it makes now could take one of those
// numbers, which the program's stdio then overwrites: keep ours above them.
int above_stdio(const Plan& plan, int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0) child_fail(plan, Layer::Fds, "fcntl", "F_DUPFD_CLOEXEC");
  close(fd);
  return moved;
}

// Says the sandbox is ready (the supervisor may now copy files into the work dir
// through our root), then waits for the run: its stdin, stdout and stderr.
// Nothing (the sandbox was dropped unused): exit quietly.
void wait_for_run(const Plan& plan, int (&stdio)[3]) {
  if (write(plan.go_sock, "R", 1) != 1) _exit(0);
  int given[3] = {-1, -1, -1};
  if (fds_receive(plan.go_sock, given, 3) != 3) _exit(0);
  for (int i = 0; i < 3; i++) stdio[i] = above_stdio(plan, given[i]);
}

pid_t start_program(ProgramStart& start, char* stack_top) {
  pid_t pid = clone(child_exec_main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (pid < 0) child_fail(*start.plan, Layer::Clone, "clone", "program");
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

// After each report init waits for the supervisor's word: the sandbox serves
// another run, or (end of file) it is done.
bool next_run_wanted(const Plan& plan) {
  char word = 0;
  ssize_t got;
  while ((got = read(plan.control_fd, &word, 1)) < 0 && errno == EINTR) {
  }
  return got == 1 && word == kNextRun;
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

// SysV objects and POSIX message queues outlive the processes that made them:
// each run gets an IPC namespace of its own, gone with its last process, so a
// sandbox that serves another run passes none of them on.
void enter_fresh_ipc_namespace(const Plan& plan) {
  if (unshare(CLONE_NEWIPC) != 0) child_fail(plan, Layer::Ipc, "unshare", "CLONE_NEWIPC");
}

}  // namespace

int child_init_main(void* arg) {
  const Plan& plan = *static_cast<const Plan*>(arg);
  prctl(PR_SET_NAME, "cb-init");
  signals_reset_to_default();
  // Die with the supervisor thread; signals stay blocked in init otherwise.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!fds_close_except(plan.keep_fds.data(), plan.keep_fds.size()))
    child_fail(plan, Layer::Fds, "close_range", nullptr);
  enter_network_namespace(plan);
  if (!mount_build_root(plan)) _exit(127);
  if (!uts_set_names(plan)) _exit(127);
  ProgramStart start = {&plan, above_stdio(plan, landlock_build_ruleset(plan))};
  // The root was built at background priority (priority.h); the run is not.
  priority::foreground();
  enter_user_namespace(plan);
  stay_tied_to_supervisor(plan);
  if (!caps_bound_for_good(plan)) _exit(127);

  close(plan.lifeline_fd);
  settle_built_tree();
  const WorkDirUsage empty = work_dir_usage();

  // One program per run, for as many runs as the supervisor gives this sandbox.
  char stack[kProgramStackSize] __attribute__((aligned(16)));
  for (;;) {
    // CLONE_VFORK: back here once the program has execed (or exited).
    pid_t program = start_program(start, stack + sizeof stack);
    InitReport report;
    report.wait_status = reap_until_program_exits(program);
    // The run is over: nothing of it outlives the report. Init itself never joined
    // the run's cgroups, so their counters are final once it is sent, and the
    // supervisor answers without waiting for anything else.
    kill(-1, SIGKILL);
    while (waitpid(-1, nullptr, __WALL) > 0 || errno == EINTR) {
    }
    ssize_t ignored = write(plan.status_fd, &report, sizeof report);
    (void)ignored;
    // The namespaces stay as they are (files may be collected) until the
    // supervisor's word; a sandbox that cannot be made as new is not reused.
    if (!next_run_wanted(plan) || !reset_for_next_run(plan, empty)) break;
  }
  // What is left is teardown: it must not delay anyone's run.
  priority::background_for_good();
  _exit(0);
}

int child_exec_main(void* arg) {
  const ProgramStart& start = *static_cast<const ProgramStart*>(arg);
  const Plan& plan = *start.plan;
  prctl(PR_SET_NAME, "cb-program");
  // Everything the run does not decide is done before it is given: the
  // program then waits, in its cgroups and behind every wall, for its stdio.
  join_cgroups(plan);
  enter_fresh_ipc_namespace(plan);
  umask(022);  // init built the root with 0; the program gets the usual default
  if (!caps_drop_all(plan)) _exit(127);
  if (!landlock_restrict(plan, start.landlock_ruleset)) _exit(127);
  if (plan.filter.len > 0) {
    int listener = seccomp_load(plan);
    if (listener < 0) _exit(127);
    if (!fds_send(plan.notify_sock, &listener, 1)) child_fail(plan, Layer::Seccomp, "sendmsg", "listener");
    close(listener);
  }
  // What follows is what the seccomp filter always allows (seccomp.cc).
  int stdio[3];
  wait_for_run(plan, stdio);
  if (!fds_install_stdio(plan, stdio)) _exit(127);
  if (!rlimits_apply(plan)) _exit(127);
  // Everything but stdio closes at exec; the error pipe stays usable until then.
  if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
    child_fail(plan, Layer::Fds, "close_range", "cloexec");
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

// The supervisor: one thread per sandbox (native/warm.cc), so Node's event loop
// never waits. It builds the sandbox before the run is known — plan, fds, cgroup,
// slot, and init, which builds the root and parks — then, given the run, copies
// its files in, writes its limits, sends init the go message and watches with
// poll(2): output pipes (capped), the seccomp listener (a violation ends the run
// and is named), the wall clock and the cgroup's CPU counter. When init is gone,
// every process of the run is gone; it reads the kernel's counters and classifies
// the outcome. A sandbox serves one run; the cgroup is removed with it.
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <tuple>

#include "cgroup.h"
#include "clone.h"
#include "netns.h"
#include "pidns.h"
#include "plan.h"
#include "sandbox.h"
#include "userns.h"
#include "workdir.h"

namespace cb {

namespace {

constexpr size_t kInitStackSize = 1 << 20;
// The network namespace is a fresh one from a pool, entered with setns (netns.cc).
constexpr int kCloneFlags = CLONE_VM | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;

std::atomic<uint64_t> run_sequence{0};

constexpr int kPidfd = 3;
constexpr int kReadyTimeoutMs = 10000;  // P_PIDFD: waitid on a pidfd, never on a pid that may be reused


double now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// The next run's stdio, made on the sandbox's thread once it is ready (built or
// reset), so that starting the run, on the caller's thread, does not make it:
// /dev/null for a run without stdin, and the two output pipes ([0] ours, [1]
// the program's). Each is a new open file or pipe, given to one run only (an
// open file's flags are the program's to change).
struct SpareStdio {
  int null_read = -1;
  int out[2] = {-1, -1}, err[2] = {-1, -1};
};

// Everything the supervisor opened for one sandbox (and its current run),
// released in one place.
struct Resources {
  int out_read = -1, err_read = -1;  // the run's: new for each
  SpareStdio spare;
  int error_read = -1, status_read = -1, notify_read = -1, control_write = -1;
  int lifeline_write = -1, go_write = -1;
  int listener = -1, pidfd = -1, netns = -1;
  void* stack = MAP_FAILED;
  cgroup::Run cgroup;
  userns::Slot slot;
  std::vector<int> child_ends;  // closed right after clone

  ~Resources() {
    close_run_fds();
    for (int fd : {error_read, status_read, notify_read, control_write, lifeline_write, go_write, pidfd, netns,
                   spare.null_read, spare.out[0], spare.out[1], spare.err[0], spare.err[1]})
      if (fd >= 0) close(fd);
    close_child_ends();
    if (stack != MAP_FAILED) munmap(stack, kInitStackSize);
    cgroup::destroy(cgroup);
    if (slot.index >= 0) userns::release(slot);
  }
  void close_child_ends() {
    for (int fd : child_ends) close(fd);
    child_ends.clear();
  }
  // What belonged to one run only.
  void close_run_fds() {
    for (int* fd : {&out_read, &err_read, &listener}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }
};

struct Watch {
  std::string reason;  // why the supervisor ended the run: output, seccomp, cpu, wall, poll
  std::string syscall;
  bool reported = false;  // init's report has arrived
  InitReport report{};
};

bool fail(JobResult& result, const char* code, const std::string& message) {
  result.status = "internal_error";
  result.error_code = code;
  result.error_message = message;
  return false;
}

// A pipe between the supervisor and the child; the child's end is closed here
// right after clone. The supervisor never blocks on its end.
bool make_pipe(int& supervisor_end, int& child_end, bool child_writes, Resources& res) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  supervisor_end = child_writes ? fds[0] : fds[1];
  child_end = child_writes ? fds[1] : fds[0];
  res.child_ends.push_back(child_end);
  fcntl(supervisor_end, F_SETFL, O_NONBLOCK);
  return true;
}

// Makes what is missing of the next run's stdio: ahead of the run, and again as
// it starts for what could not be made then. 0, or the errno of what failed.
int make_spare_stdio(SpareStdio& spare) {
  if (spare.null_read < 0 && (spare.null_read = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) return errno;
  for (int* ends : {spare.out, spare.err}) {
    if (ends[0] >= 0) continue;
    if (pipe2(ends, O_CLOEXEC) != 0) return errno;
    fcntl(ends[0], F_SETFL, O_NONBLOCK);
  }
  return 0;
}

// Hands over a spare descriptor: it is the caller's now.
int take(int& spare) {
  int fd = spare;
  spare = -1;
  return fd;
}

int open_stdin(const JobSpec& spec, Resources& res, JobResult& result) {
  if (spec.stdin_kind == StdinKind::File) {
    int fd = open(spec.stdin_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat info;
    if (fd < 0) {
      fail(result, "PATH_NOT_FOUND", "stdin file: " + spec.stdin_path + ": " + strerror(errno));
    } else if (fstat(fd, &info) != 0 || !(S_ISREG(info.st_mode) || S_ISFIFO(info.st_mode))) {
      // a directory fd would be a handle on the host's tree
      fail(result, "PATH_NOT_FOUND", "stdin file: " + spec.stdin_path + ": not a regular file or a pipe");
      close(fd);
      fd = -1;
    } else {
      fcntl(fd, F_SETFL, 0);
    }
    return fd;
  }
  if (spec.stdin_kind == StdinKind::None) return take(res.spare.null_read);
  if (spec.stdin_kind == StdinKind::Fd) {
    // closed by run_job; like a file, it must be a pipe or a regular file, never
    // a directory (a handle on a host tree)
    struct stat info;
    if (spec.stdin_fd >= 0 && fstat(spec.stdin_fd, &info) == 0 && (S_ISFIFO(info.st_mode) || S_ISREG(info.st_mode)))
      return spec.stdin_fd;
    fail(result, "INVALID_SPEC", "stdin fd: not a pipe or a regular file");
    return -1;
  }
  // A memfd rather than a pipe: no writer to keep fed, and the program may seek.
  int fd = memfd_create("cellblock-stdin", MFD_CLOEXEC);
  size_t done = 0;
  while (fd >= 0 && done < spec.stdin_data.size()) {
    ssize_t n = write(fd, spec.stdin_data.data() + done, spec.stdin_data.size() - done);
    if (n <= 0) {
      close(fd);
      fd = -1;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) {
    fail(result, "SANDBOX_SETUP", std::string("stdin memfd: ") + strerror(errno));
    return -1;
  }
  return fd;
}

// The sandbox's own pipes and sockets, for all its runs; each run's stdio comes
// with its go message.
bool prepare_fds(const JobSpec& spec, Plan& plan, Resources& res, std::string& error) {
  int notify[2], go[2];
  if (!make_pipe(res.error_read, plan.error_fd, true, res) || !make_pipe(res.status_read, plan.status_fd, true, res) ||
      !make_pipe(res.control_write, plan.control_fd, false, res) ||
      !make_pipe(res.lifeline_write, plan.lifeline_fd, false, res) ||
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, notify) != 0) {
    error = std::string("pipes: ") + strerror(errno);
    return false;
  }
  res.notify_read = notify[0];
  plan.notify_sock = notify[1];
  res.child_ends.push_back(notify[1]);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, go) != 0) {
    error = std::string("socketpair: ") + strerror(errno);
    return false;
  }
  res.go_write = go[0];
  plan.go_sock = go[1];
  res.child_ends.push_back(go[1]);
  plan.userns_fd = res.slot.fd;
  if (!spec.network_off) {
    res.netns = netns_take(error);
    if (res.netns < 0) return false;
  }
  plan.netns_fd = res.netns;
  plan.cgroup_procs_fds = res.cgroup.procs_fds;
  plan.keep_fds = {plan.error_fd, plan.status_fd, plan.notify_sock, plan.userns_fd,
                   plan.control_fd, plan.lifeline_fd, plan.go_sock};
  if (plan.netns_fd >= 0) plan.keep_fds.push_back(plan.netns_fd);
  plan.keep_fds.insert(plan.keep_fds.end(), plan.cgroup_procs_fds.begin(), plan.cgroup_procs_fds.end());
  std::sort(plan.keep_fds.begin(), plan.keep_fds.end());
  return true;
}

// An output the run brings its own of (a pipe to another sandbox, or to the
// caller, who reads it as it is written): a pipe or a file, never a directory (a
// handle on a host tree).
int given_output(int fd, const char* which, JobResult& result) {
  struct stat info;
  if (fd < 0 || fstat(fd, &info) != 0 || !(S_ISFIFO(info.st_mode) || S_ISREG(info.st_mode))) {
    fail(result, "INVALID_SPEC", std::string(which) + " fd: not a pipe or a regular file");
    return -1;
  }
  return fd;
}

// A run's output pipe, from the spares: the program writes `theirs`, the watch
// reads `ours` (up to the cap).
int output_pipe(int (&spare)[2], int& ours, Resources& res) {
  ours = take(spare[0]);
  int theirs = take(spare[1]);
  res.child_ends.push_back(theirs);
  return theirs;
}

// The staging directory init mounts the new root on (in its own namespace).
bool ensure_staging_dir(std::string& error) {
  static std::once_flag once;
  static int err = 0;
  std::call_once(once, [] {
    for (const char* dir : {"/run/cellblock", kStaging}) {
      if (mkdir(dir, 0755) != 0 && errno != EEXIST) err = errno;
    }
  });
  if (err != 0) error = std::string("mkdir ") + kStaging + ": " + strerror(err);
  return err == 0;
}

// False with `error`, and `code` when it is not SANDBOX_SETUP.
bool prepare(const JobSpec& spec, Plan& plan, Resources& res, std::string& code, std::string& error) {
  if (!ensure_staging_dir(error)) return false;
  if (!plan_sandbox(spec, plan, error)) {
    code = "PATH_NOT_FOUND";
    return false;
  }
  if (!userns::acquire(res.slot, error)) return false;
  plan.program_host_uid = res.slot.program_host_uid;
  plan.program_host_gid = res.slot.program_host_uid;
  std::string name = "run-" + std::to_string(getpid()) + "-" + std::to_string(run_sequence++);
  if (!cgroup::create(name, spec.cpus, res.cgroup, error)) {
    code = "CGROUP";
    return false;
  }
  if (!prepare_fds(spec, plan, res, error)) return false;
  res.stack = mmap(nullptr, kInitStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (res.stack == MAP_FAILED) {
    error = std::string("mmap: ") + strerror(errno);
    return false;
  }
  mprotect(res.stack, 4096, PROT_NONE);  // guard page
  return true;
}

pid_t clone_init(Plan& plan, Resources& res) {
  return clone_quiet(child_init_main, static_cast<char*>(res.stack) + kInitStackSize, kCloneFlags, &plan);
}

// Appends what is readable up to the cap (and passes it on, when the caller
// streams the output); false when the cap was passed and the run must stop (with
// `truncate`, the rest is read and dropped instead). At end of file the fd is
// closed, so a program that closes its stdout cannot make poll() return at once
// forever.
bool drain(int& fd, int stream, std::string& into, const JobSpec& spec) {
  char buf[65536];
  while (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return true;  // EAGAIN: nothing more for now
    if (n == 0) {
      close(fd);
      fd = -1;
      return true;
    }
    size_t room = into.size() < spec.output_bytes ? spec.output_bytes - into.size() : 0;
    size_t kept = std::min<size_t>(room, static_cast<size_t>(n));
    into.append(buf, kept);
    if (kept > 0 && spec.on_output) spec.on_output(stream, buf, kept);
    if (static_cast<size_t>(n) > room && !spec.truncate_output) return false;
  }
  return true;
}

bool drain_outputs(const JobSpec& spec, Resources& res, JobResult& result) {
  bool out_ok = drain(res.out_read, 1, result.out, spec);
  bool err_ok = drain(res.err_read, 2, result.err, spec);
  return out_ok && err_ok;
}

// Init has reported and waits for our word: its namespaces are still as the run
// left them (the rest of the tree is dead), so files can be collected.
void take_report(const JobSpec& spec, pid_t init, Resources& res, JobResult& result, Watch& watch) {
  if (watch.reported || read(res.status_read, &watch.report, sizeof watch.report) != sizeof watch.report) return;
  watch.reported = true;
  if (spec.collect.empty()) return;
  collect_files(init, spec.collect, spec.collect_bytes, spec.collect_files, result.files, result.refused);
}

// The CPU limit covers the whole tree; the counter is read again only when the
// limit could have been reached, given the CPUs the tree can use.
double next_cpu_check(const JobSpec& spec, uint64_t used_ns, double now) {
  static const double cpus = static_cast<double>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  double left_ms = static_cast<double>(spec.cpu_ms) - used_ns / 1e6;
  return now + std::max(2.0, left_ms / cpus);
}

void watch(const JobSpec& spec, pid_t init, Resources& res, JobResult& result, Watch& watch, double started) {
  auto kill_run = [&](const char* reason) {
    if (watch.reason.empty()) watch.reason = reason;
    kill(init, SIGKILL);  // pid 1 of the namespace: the kernel kills the rest
  };
  double deadline = started + static_cast<double>(spec.wall_ms);
  double cpu_check = started + 2;
  for (;;) {
    struct pollfd fds[7] = {{res.pidfd, POLLIN, 0},       {res.out_read, POLLIN, 0}, {res.err_read, POLLIN, 0},
                            {res.notify_read, POLLIN, 0}, {res.listener, POLLIN, 0}, {res.status_read, POLLIN, 0},
                            {spec.cancel_fd, POLLIN, 0}};
    double now = now_ms();
    int timeout = static_cast<int>(std::max(0.0, std::min(deadline, cpu_check) - now)) + 1;
    if (poll(fds, 7, timeout) < 0 && errno != EINTR) {
      kill_run("poll");  // cannot watch any more: end the run (an internal error), never wait blind
      break;
    }
    if ((fds[1].revents || fds[2].revents) && !drain_outputs(spec, res, result)) kill_run("output");
    if (fds[5].revents & POLLIN) take_report(spec, init, res, result, watch);
    if (fds[3].revents & POLLIN) {
      int listener = -1;
      if (fds_receive(res.notify_read, &listener, 1) == 1) res.listener = listener;
    } else if (fds[3].revents & (POLLHUP | POLLERR)) {
      close(res.notify_read);
      res.notify_read = -1;
    }
    if (fds[4].revents & POLLIN) {
      uint32_t arch = 0;
      int nr = 0;
      if (seccomp::receive_notification(res.listener, arch, nr) && watch.syscall.empty())
        watch.syscall = seccomp::syscall_name(arch, nr);
      kill_run("seccomp");
    } else if (fds[4].revents & (POLLHUP | POLLERR)) {
      close(res.listener);  // the program and its tree are gone
      res.listener = -1;
    }
    if (fds[6].revents & POLLIN) kill_run("cancelled");
    // Init has exited, or has reported: then the rest of the tree is dead and the
    // counters are final; init's own exit (namespace teardown) is not waited for.
    if (fds[0].revents || watch.reported) break;
    now = now_ms();
    if (now >= deadline) kill_run("wall");
    if (now >= cpu_check) {
      uint64_t used_ns = 0;
      if (cgroup::read_cpu_ns(res.cgroup, used_ns) && used_ns / 1e6 > static_cast<double>(spec.cpu_ms))
        kill_run("cpu");
      cpu_check = next_cpu_check(spec, used_ns, now);
    }
  }
  result.wall_ms = now_ms() - started;
  if (!drain_outputs(spec, res, result) && watch.reason.empty()) watch.reason = "output";
  take_report(spec, init, res, result, watch);
}

const char* layer_name(Layer layer) {
  static const char* const names[] = {"none",   "userns", "mount", "proc",     "dev",     "workdir",
                                      "uts",    "cgroup", "caps",  "rlimit",   "landlock", "seccomp",
                                      "fds",    "exec",   "clone", "netns",    "ipc"};
  size_t index = static_cast<size_t>(layer);
  return index < sizeof names / sizeof names[0] ? names[index] : "unknown";
}

// A setup failure reported by the child becomes a stable error code.
void report_failure(const Failure& failure, JobResult& result) {
  const char* code = "SANDBOX_SETUP";
  if (failure.layer == Layer::Exec) code = failure.err == ENOENT ? "EXEC_NOT_FOUND" : "EXEC_FAILED";
  if (failure.layer == Layer::Workdir && (failure.err == ENOSPC || failure.err == EDQUOT)) code = "WORKDIR_FULL";
  std::string message = std::string(layer_name(failure.layer)) + ": " + failure.what + ": " + strerror(failure.err);
  fail(result, code, message);
}

void classify(const JobSpec& spec, const Watch& watch, const InitReport* report, const cgroup::Usage& usage,
              JobResult& result) {
  if (report != nullptr) {
    if (WIFEXITED(report->wait_status)) result.exit_code = WEXITSTATUS(report->wait_status);
    if (WIFSIGNALED(report->wait_status)) result.signal = WTERMSIG(report->wait_status);
  } else if (!watch.reason.empty()) {
    result.signal = SIGKILL;
  }
  // Signals the program can raise itself count only with the kernel's evidence:
  // SIGSYS only with a listener notification, SIGXCPU only past the CPU limit.
  bool over_cpu = result.cpu_ms > static_cast<double>(spec.cpu_ms);
  if (watch.reason == "cancelled") {
    result.status = "cancelled";
  } else if (watch.reason == "seccomp") {
    result.status = "security_violation";
    result.syscall = watch.syscall.empty() ? "unknown" : watch.syscall;
  } else if (watch.reason == "output" || result.signal == SIGXFSZ) {
    result.status = "output_limit";
  } else if (usage.oom_kills > 0) {
    result.status = "memory_limit";
  } else if (watch.reason == "cpu" || over_cpu) {
    result.status = "time_limit";
  } else if (watch.reason == "wall") {
    result.status = "wall_time_limit";
  } else if (report == nullptr) {
    fail(result, "SANDBOX_SETUP", "init exited without a report");
  } else if (result.exit_code != 0 || result.signal != 0) {
    result.status = "runtime_error";
  } else {
    result.status = "ok";
  }
}

void finish(const JobSpec& spec, Resources& res, const Watch& watch, JobResult& result) {
  Failure failure;
  bool failed = read(res.error_read, &failure, sizeof failure) == sizeof failure;
  cgroup::Usage usage = cgroup::read_usage(res.cgroup);
  result.cpu_ms = usage.cpu_ns / 1e6;
  result.memory_kb = usage.memory_peak_bytes / 1024;
  if (failed && watch.reason.empty()) {
    report_failure(failure, result);
    return;
  }
  classify(spec, watch, watch.reported ? &watch.report : nullptr, usage, result);
}

}  // namespace

struct Sandbox {
  Plan plan;
  Resources res;
  pid_t init = -1;
  cgroup::Limits limits;    // as written into the cgroups: a run with the same needs no write
  bool ready = false;       // its program waits for the go message (until first ready, the root is still the host's)
  bool reusable = false;    // its last run ended as runs should: init reported, nothing failed or was killed
  unsigned runs = 0;
  double started = 0;       // when the go message left
  std::string code, error;  // why it could not be built
};

namespace {

// A sandbox serves this many runs at most, then a new one is built.
constexpr unsigned kMaxRuns = 256;

// Until the program says it is ready (on the go socket). A report instead means
// it failed on its way (the run then reads why); building takes milliseconds, so
// a sandbox not ready long after is killed: no thread, nor the run waiting for
// it, can hang on one.
bool wait_ready(Sandbox& sandbox) {
  Resources& res = sandbox.res;
  struct pollfd fds[3] = {{res.go_write, POLLIN, 0}, {res.status_read, POLLIN, 0}, {res.pidfd, POLLIN, 0}};
  int polled;
  while ((polled = poll(fds, 3, kReadyTimeoutMs)) < 0 && errno == EINTR) {
  }
  if (polled == 0) kill(sandbox.init, SIGKILL);
  char ready = 0;
  return polled > 0 && (fds[0].revents & POLLIN) && recv(res.go_write, &ready, 1, MSG_DONTWAIT) == 1;
}

// Copies the run's files in, writes its limits, and sends the waiting program its
// stdin, stdout and stderr: from then on it runs. False when the run cannot
// start; init is then told nothing and exits when the sandbox is dropped.
bool give_run(const JobSpec& spec, Sandbox& sandbox, JobResult& result) {
  Plan& plan = sandbox.plan;
  Resources& res = sandbox.res;
  plan_program(spec, plan);
  std::string error;
  cgroup::Limits limits{spec.memory_bytes, spec.pids};
  if (limits != sandbox.limits) {
    if (!cgroup::set_limits(res.cgroup, limits, sandbox.limits, error)) return fail(result, "CGROUP", error);
    sandbox.limits = limits;
  }
  if (!sandbox.ready) return true;  // init is gone: its failure is what the run reports
  if (!spec.copies.empty()) {
    int work = workdir_open(sandbox.init);
    int err = 0;
    bool copied = work >= 0 && workdir_copy_in(work, spec.copies, plan.program_host_uid, plan.program_host_gid, error, err);
    if (work < 0) return fail(result, "SANDBOX_SETUP", std::string("work dir: ") + strerror(errno));
    close(work);
    if (!copied) {
      const char* code = err == ENOSPC || err == EDQUOT ? "WORKDIR_FULL"
                         : err == ENOENT                 ? "PATH_NOT_FOUND"
                         : err == EINVAL                 ? "INVALID_SPEC"
                                                         : "SANDBOX_SETUP";
      return fail(result, code, error);
    }
  }
  if (int err = make_spare_stdio(res.spare)) return fail(result, "SANDBOX_SETUP", std::string("stdio: ") + strerror(err));
  int stdio[3] = {open_stdin(spec, res, result), -1, -1};
  if (stdio[0] < 0) return false;
  // stdout may be the run's own (a pipe to an interactor); stderr is always ours
  stdio[1] = spec.stdout_given ? given_output(spec.stdout_fd, "stdout", result) : output_pipe(res.spare.out, res.out_read, res);
  bool ready = stdio[1] >= 0;
  if (ready) {
    stdio[2] = output_pipe(res.spare.err, res.err_read, res);
    fds_send(res.go_write, stdio, 3);  // failed: init is gone, and the watch finds out why
  }
  if (spec.stdin_kind != StdinKind::Fd) close(stdio[0]);
  sandbox.started = now_ms();
  return ready;
}

}  // namespace

// Init is reaped here, after the result has gone: it exits once it reads end of
// file where our word would be (after a report), was killed, or — given no run —
// sees its program exit at end of file where the go message would be.
void SandboxDeleter::operator()(Sandbox* sandbox) const {
  Resources& res = sandbox->res;
  for (int* fd : {&res.go_write, &res.control_write}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  if (res.pidfd >= 0) {
    siginfo_t info;
    while (waitid(static_cast<idtype_t>(kPidfd), static_cast<id_t>(res.pidfd), &info, WEXITED | __WALL) != 0 &&
           errno == EINTR) {
    }
  }
  delete sandbox;
}

std::string sandbox_key(const JobSpec& spec) {
  std::string key;
  auto add = [&key](const std::string& part) { key.append(part).push_back('\0'); };
  for (const std::string& path : spec.ro_paths) add(path);
  add("|");
  for (const std::string& path : spec.exposed) add(path);
  add("|");
  for (const std::string& layer : spec.root_layers) add(layer);
  add(std::to_string(spec.tmpfs_bytes) + "/" + std::to_string(spec.tmpfs_inodes) + "/" + spec.cpus + "/" +
      std::to_string(spec.landlock_abi) + "/" + (spec.network_off ? "host-net" : "net") + "/" + (spec.seccomp_off ? "no-seccomp" : "seccomp") + "/" +
      spec.policy.key);
  return key;
}

SandboxPtr sandbox_build(const JobSpec& spec) {
  SandboxPtr sandbox(new Sandbox);
  Plan& plan = sandbox->plan;
  Resources& res = sandbox->res;
  std::string error;
  if (!pidns_thread_in_place()) {
    sandbox->code = "SANDBOX_SETUP";
    sandbox->error = "this thread's children would be born in another sandbox's pid namespace";
    return sandbox;
  }
  auto program = seccomp::compile(spec.policy, error);
  if (program == nullptr) {
    sandbox->code = "SECCOMP_POLICY";
    sandbox->error = error;
    return sandbox;
  }
  // The compiled program is cached for the life of the process, so it outlives init.
  plan.filter.len = spec.seccomp_off ? 0 : static_cast<unsigned short>(program->size());
  plan.filter.filter = const_cast<sock_filter*>(program->data());
  if (!prepare(spec, plan, res, sandbox->code, sandbox->error)) {
    if (sandbox->code.empty()) sandbox->code = "SANDBOX_SETUP";
    return sandbox;
  }
  // The limits of the run it is built for, most likely those of the run it gets.
  if (cgroup::set_limits(res.cgroup, {spec.memory_bytes, spec.pids}, {}, sandbox->error))
    sandbox->limits = {spec.memory_bytes, spec.pids};
  sandbox->init = clone_init(plan, res);
  res.close_child_ends();
  if (sandbox->init < 0) {
    sandbox->code = "SANDBOX_SETUP";
    sandbox->error = std::string("clone: ") + strerror(errno);
    return sandbox;
  }
  res.pidfd = static_cast<int>(syscall(SYS_pidfd_open, sandbox->init, 0));
  if (res.pidfd < 0) {
    kill(sandbox->init, SIGKILL);
    siginfo_t info;
    waitid(P_PID, static_cast<id_t>(sandbox->init), &info, WEXITED | __WALL);
    sandbox->code = "SANDBOX_SETUP";
    sandbox->error = std::string("pidfd_open: ") + strerror(errno);
    return sandbox;
  }
  // not ready: its failure is what the run reports
  sandbox->ready = wait_ready(*sandbox);
  if (sandbox->ready) make_spare_stdio(res.spare);
  return sandbox;
}

bool sandbox_start(Sandbox& sandbox, const JobSpec& spec, JobResult& result) {
  Resources& res = sandbox.res;
  // Pipe ends handed over by the caller are ours to close, whatever happens.
  if (spec.stdin_kind == StdinKind::Fd) res.child_ends.push_back(spec.stdin_fd);
  if (spec.stdout_given && spec.stdout_fd >= 0) res.child_ends.push_back(spec.stdout_fd);
  if (!sandbox.code.empty() || res.pidfd < 0) return fail(result, sandbox.code.c_str(), sandbox.error);
  bool started = give_run(spec, sandbox, result);  // if not, the deleter lets init go
  res.close_child_ends();
  return started;
}

bool sandbox_current(const Sandbox& sandbox) {
  for (const HostPathId& id : sandbox.plan.read_only_ids) {
    struct stat info;
    if (lstat(id.path.c_str(), &info) != 0 || info.st_dev != id.dev || info.st_ino != id.ino) return false;
  }
  return true;
}

bool sandbox_quick_to_start(const JobSpec& spec) {
  constexpr uint64_t kQuickBytes = 1 << 20;
  uint64_t bytes = spec.stdin_data.size();
  for (const CopySpec& copy : spec.copies) {
    struct stat info;
    // a FIFO could block whoever opens it: only regular files are quick (or copied at all)
    if (!copy.from_memory && (stat(copy.source.c_str(), &info) != 0 || !S_ISREG(info.st_mode))) return false;
    bytes += copy.from_memory ? copy.content.size() : static_cast<uint64_t>(info.st_size);
  }
  return bytes <= kQuickBytes;
}

void sandbox_watch(Sandbox& sandbox, const JobSpec& spec, JobResult& result) {
  Watch watched;
  watch(spec, sandbox.init, sandbox.res, result, watched, sandbox.started);
  finish(spec, sandbox.res, watched, result);
  sandbox.res.close_run_fds();
  sandbox.reusable = watched.reported && watched.reason.empty() && result.error_code.empty();
}

bool sandbox_reset(Sandbox& sandbox) {
  Resources& res = sandbox.res;
  bool reusable = sandbox.reusable && ++sandbox.runs < kMaxRuns;
  sandbox.reusable = sandbox.ready = false;
  if (!reusable || !pidns_restart_numbering(res.pidfd) || write(res.control_write, &kNextRun, 1) != 1)
    return false;
  sandbox.ready = wait_ready(sandbox);
  if (sandbox.ready) make_spare_stdio(res.spare);
  return sandbox.ready && cgroup::reset_counters(res.cgroup);
}

}  // namespace cb

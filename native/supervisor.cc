// The supervisor: runs on its own thread, one per run, so Node's event loop never
// waits. It prepares the plan and fds, clones init, then watches the run with
// poll(2): output pipes (capped), the seccomp listener (a violation ends the run
// and is named), the wall clock and the cgroup's CPU counter. When init is gone,
// every process of the run is gone; it reads the kernel's counters, classifies
// the outcome and removes the cgroup.
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

#include "cgroup.h"
#include "clone.h"
#include "netns.h"
#include "plan.h"
#include "sandbox.h"
#include "userns.h"

namespace cb {

namespace {

constexpr size_t kInitStackSize = 1 << 20;
// The network namespace is a fresh one from a pool, entered with setns (netns.cc).
constexpr int kCloneFlags = CLONE_VM | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;

std::atomic<uint64_t> run_sequence{0};


double now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Everything the supervisor opened for one run, released in one place.
struct Resources {
  int out_read = -1, err_read = -1, error_read = -1, status_read = -1, notify_read = -1, release_write = -1;
  int lifeline_write = -1;
  int listener = -1, pidfd = -1, netns = -1;
  void* stack = MAP_FAILED;
  cgroup::Run cgroup;
  userns::Slot slot;
  std::vector<int> child_ends;  // closed right after clone

  ~Resources() {
    for (int fd : {out_read, err_read, error_read, status_read, notify_read, release_write, lifeline_write, listener,
                   pidfd, netns})
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

int open_stdin(const JobSpec& spec, JobResult& result) {
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
  if (spec.stdin_kind == StdinKind::None) return open("/dev/null", O_RDONLY | O_CLOEXEC);
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

bool prepare_fds(const JobSpec& spec, Plan& plan, Resources& res, JobResult& result) {
  int sock[2];
  bool stdout_given = spec.stdout_given;
  if (stdout_given) {
    // closed by run_job; a pipe or a file, never a directory (a handle on a host tree)
    struct stat info;
    if (spec.stdout_fd < 0 || fstat(spec.stdout_fd, &info) != 0 || !(S_ISFIFO(info.st_mode) || S_ISREG(info.st_mode)))
      return fail(result, "INVALID_SPEC", "stdout fd: not a pipe or a regular file");
    plan.stdout_fd = spec.stdout_fd;
  }
  if (spec.stderr_given) {
    struct stat info;
    if (spec.stderr_fd < 0 || fstat(spec.stderr_fd, &info) != 0 || !S_ISFIFO(info.st_mode))
      return fail(result, "INVALID_SPEC", "stderr fd: not a pipe");
    plan.stderr_fd = spec.stderr_fd;
  }
  if ((!stdout_given && !make_pipe(res.out_read, plan.stdout_fd, true, res)) ||
      (!spec.stderr_given && !make_pipe(res.err_read, plan.stderr_fd, true, res)) || !make_pipe(res.error_read, plan.error_fd, true, res) ||
      !make_pipe(res.status_read, plan.status_fd, true, res) ||
      (!spec.collect.empty() && !make_pipe(res.release_write, plan.release_fd, false, res)) ||
      !make_pipe(res.lifeline_write, plan.lifeline_fd, false, res) ||
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) != 0)
    return fail(result, "SANDBOX_SETUP", std::string("pipes: ") + strerror(errno));
  res.notify_read = sock[0];
  plan.notify_sock = sock[1];
  res.child_ends.push_back(sock[1]);
  plan.stdin_fd = open_stdin(spec, result);
  if (plan.stdin_fd < 0) return false;
  if (spec.stdin_kind != StdinKind::Fd) res.child_ends.push_back(plan.stdin_fd);
  plan.userns_fd = res.slot.fd;
  if (!spec.network_off) {
    std::string error;
    res.netns = netns_take(error);
    if (res.netns < 0) return fail(result, "SANDBOX_SETUP", error);
  }
  plan.netns_fd = res.netns;
  plan.cgroup_procs_fds = res.cgroup.procs_fds;
  plan.keep_fds = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, plan.error_fd, plan.status_fd, plan.notify_sock,
                   plan.userns_fd};
  if (plan.netns_fd >= 0) plan.keep_fds.push_back(plan.netns_fd);
  if (plan.release_fd >= 0) plan.keep_fds.push_back(plan.release_fd);
  plan.keep_fds.push_back(plan.lifeline_fd);
  plan.keep_fds.insert(plan.keep_fds.end(), plan.cgroup_procs_fds.begin(), plan.cgroup_procs_fds.end());
  std::sort(plan.keep_fds.begin(), plan.keep_fds.end());
  return true;
}

// The staging directory init mounts the new root on (in its own namespace).
bool ensure_staging_dir(JobResult& result) {
  static std::once_flag once;
  static int err = 0;
  std::call_once(once, [] {
    for (const char* dir : {"/run/cellblock", kStaging}) {
      if (mkdir(dir, 0755) != 0 && errno != EEXIST) err = errno;
    }
  });
  return err == 0 || fail(result, "SANDBOX_SETUP", std::string("mkdir ") + kStaging + ": " + strerror(err));
}

bool prepare(const JobSpec& spec, Plan& plan, Resources& res, JobResult& result) {
  std::string error;
  if (!ensure_staging_dir(result)) return false;
  if (!build_plan(spec, plan, error)) return fail(result, "PATH_NOT_FOUND", error);
  auto program = seccomp::compile(spec.policy, error);
  if (program == nullptr) return fail(result, "SECCOMP_POLICY", error);
  // The compiled program is cached for the life of the process, so it outlives init.
  plan.filter.len = spec.seccomp_off ? 0 : static_cast<unsigned short>(program->size());
  plan.filter.filter = const_cast<sock_filter*>(program->data());
  if (!userns::acquire(res.slot, error)) return fail(result, "SANDBOX_SETUP", error);
  plan.program_host_uid = res.slot.program_host_uid;
  plan.program_host_gid = res.slot.program_host_uid;
  cgroup::Limits limits;
  limits.memory_bytes = spec.memory_bytes;
  limits.pids = spec.pids;
  limits.cpus = spec.cpus;
  std::string name = "run-" + std::to_string(getpid()) + "-" + std::to_string(run_sequence++);
  if (!cgroup::create(name, limits, res.cgroup, error)) return fail(result, "CGROUP", error);
  if (!prepare_fds(spec, plan, res, result)) return false;
  res.stack = mmap(nullptr, kInitStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (res.stack == MAP_FAILED) return fail(result, "SANDBOX_SETUP", std::string("mmap: ") + strerror(errno));
  mprotect(res.stack, 4096, PROT_NONE);  // guard page
  return true;
}

pid_t clone_init(Plan& plan, Resources& res) {
  return clone_quiet(child_init_main, static_cast<char*>(res.stack) + kInitStackSize, kCloneFlags, &plan);
}

// Appends what is readable up to the cap; false when the cap was passed and the
// run must stop (with `truncate`, the rest is read and dropped instead). At end
// of file the fd is closed, so a program that closes its stdout cannot make
// poll() return at once forever.
bool drain(int& fd, std::string& into, uint64_t cap, bool truncate) {
  char buf[65536];
  while (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return true;  // EAGAIN: nothing more for now
    if (n == 0) {
      close(fd);
      fd = -1;
      return true;
    }
    size_t room = into.size() < cap ? cap - into.size() : 0;
    into.append(buf, std::min<size_t>(room, static_cast<size_t>(n)));
    if (static_cast<uint64_t>(n) > room && !truncate) return false;
  }
  return true;
}

bool drain_outputs(const JobSpec& spec, Resources& res, JobResult& result) {
  bool out_ok = drain(res.out_read, result.out, spec.output_bytes, spec.truncate_output);
  bool err_ok = drain(res.err_read, result.err, spec.output_bytes, spec.truncate_output);
  return out_ok && err_ok;
}

// Init has reported: when files are to be collected, its namespaces are still
// alive (the rest of the tree is dead); read them, then let init exit.
void take_report(const JobSpec& spec, pid_t init, Resources& res, JobResult& result, Watch& watch) {
  if (watch.reported || read(res.status_read, &watch.report, sizeof watch.report) != sizeof watch.report) return;
  watch.reported = true;
  if (res.release_write < 0) return;
  collect_files(init, spec.collect, spec.collect_bytes, spec.collect_files, result.files, result.refused);
  close(res.release_write);
  res.release_write = -1;
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
      res.listener = fds_receive_fd(res.notify_read);
      close(res.notify_read);
      res.notify_read = -1;
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
    if (fds[0].revents) break;  // init has exited
    now = now_ms();
    if (now >= deadline) kill_run("wall");
    if (now >= cpu_check) {
      uint64_t used_ns = 0;
      if (cgroup::read_cpu_ns(res.cgroup, used_ns) && used_ns / 1e6 > static_cast<double>(spec.cpu_ms))
        kill_run("cpu");
      cpu_check = next_cpu_check(spec, used_ns, now);
    }
  }
  siginfo_t info;
  waitid(P_PID, static_cast<id_t>(init), &info, WEXITED | __WALL);
  result.wall_ms = now_ms() - started;
  if (!drain_outputs(spec, res, result) && watch.reason.empty()) watch.reason = "output";
  take_report(spec, init, res, result, watch);
}

const char* layer_name(Layer layer) {
  static const char* const names[] = {"none",   "userns", "mount", "proc",     "dev",     "workdir",
                                      "uts",    "cgroup", "caps",  "rlimit",   "landlock", "seccomp",
                                      "fds",    "exec",   "clone", "netns"};
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

JobResult run_job(const JobSpec& spec) {
  JobResult result;
  Plan plan;
  Resources res;
  // Pipe ends handed over by the caller are ours to close, whatever happens.
  if (spec.stdin_kind == StdinKind::Fd) res.child_ends.push_back(spec.stdin_fd);
  if (spec.stdout_given && spec.stdout_fd >= 0) res.child_ends.push_back(spec.stdout_fd);
  if (spec.stderr_given && spec.stderr_fd >= 0) res.child_ends.push_back(spec.stderr_fd);
  if (!prepare(spec, plan, res, result)) return result;
  double started = now_ms();
  pid_t init = clone_init(plan, res);
  res.close_child_ends();
  if (init < 0) {
    fail(result, "SANDBOX_SETUP", std::string("clone: ") + strerror(errno));
    return result;
  }
  res.pidfd = static_cast<int>(syscall(SYS_pidfd_open, init, 0));
  if (res.pidfd < 0) {
    kill(init, SIGKILL);
    siginfo_t info;
    waitid(P_PID, static_cast<id_t>(init), &info, WEXITED | __WALL);
    fail(result, "SANDBOX_SETUP", std::string("pidfd_open: ") + strerror(errno));
    return result;
  }
  Watch watched;
  watch(spec, init, res, result, watched, started);
  finish(spec, res, watched, result);
  return result;
}

}  // namespace cb

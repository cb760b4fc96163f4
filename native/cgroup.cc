// cgroup detection, the helpers both versions share, and the per-run lifecycle.
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace cb::cgroup {

bool write_file(const std::string& path, const std::string& value, std::string& error) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cgroup: open " + path + ": " + strerror(errno);
    return false;
  }
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    error = "cgroup: write '" + value + "' to " + path + ": " + strerror(err);
    return false;
  }
  return true;
}

bool read_file(const std::string& path, std::string& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  out.clear();
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return n == 0;
}

namespace {

// The value of `key` in "key value" lines (memory.events, cpu.stat,
// memory.oom_control), or 0.
uint64_t keyed_value(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string name;
  uint64_t value;
  while (lines >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

}  // namespace

bool make_dir(const std::string& path, Run& run, std::string& error) {
  if (mkdir(path.c_str(), 0755) != 0) {
    error = "cgroup: mkdir " + path + ": " + strerror(errno);
    return false;
  }
  run.dirs.push_back(path);
  return true;
}

bool open_attach_file(const std::string& dir, const char* file, Run& run, std::string& error) {
  std::string path = dir + "/" + file;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cgroup: open " + path + ": " + strerror(errno);
    return false;
  }
  run.procs_fds.push_back(fd);
  return true;
}

namespace {

bool kill_members(const std::string& dir) {
  std::string procs;
  if (!read_file(dir + "/cgroup.procs", procs)) return false;
  std::istringstream pids(procs);
  pid_t pid;
  bool any = false;
  while (pids >> pid) {
    kill(pid, SIGKILL);
    any = true;
  }
  return any;
}

bool remove_dir(const std::string& dir) {
  for (int attempt = 0; attempt < 50; attempt++) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    kill_members(dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// Run cgroups are named run-<pid>-<seq>. The sweep runs before this process
// starts any run, so one named for a dead process, or for our own pid (reused
// after a crash), is a leftover.
bool is_leftover(const std::string& name) {
  if (name.rfind("run-", 0) != 0) return false;
  pid_t owner = static_cast<pid_t>(strtol(name.c_str() + 4, nullptr, 10));
  return owner > 0 && (owner == getpid() || (kill(owner, 0) != 0 && errno == ESRCH));
}

}  // namespace

void sweep_stale(const std::string& parent) {
  DIR* dir = opendir(parent.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_type == DT_DIR && is_leftover(entry->d_name)) stale.push_back(parent + "/" + entry->d_name);
  }
  closedir(dir);
  for (const std::string& path : stale) remove_dir(path);
}

const Info& detect() {
  static std::once_flag once;
  static Info info;
  std::call_once(once, [] {
    const char* forced = getenv("CELLBLOCK_CGROUP");
    std::string want = forced != nullptr ? forced : "";
    if (want != "v1" && v2::detect(info)) return;
    std::string v2_problem = info.problem;
    info = Info{};
    if (want != "v2" && v1::detect(info)) return;
    if (want == "v2") info.problem = v2_problem.empty() ? "no cgroup2 mount" : v2_problem;
    if (info.problem.empty()) info.problem = "no usable cgroup hierarchy (need memory, pids and cpu accounting)";
    info.version = Version::None;
  });
  return info;
}

namespace {

// What a finished run may leave charged once reclaimed (see reclaim: what the
// kernel has yet to free) and still pass its cgroup on.
constexpr uint64_t kLeftoverBytes = 1 << 20;
// What a program charges before its run (its IPC and cgroup namespaces, its
// seccomp filter), and the charges each CPU keeps in advance for the cgroup that
// last charged there (64 pages): a fresh sandbox holds as much, and it is not
// the last run's memory. Above it, reclaim; not below: reclaiming drains every
// CPU's charge cache (work on each CPU), 1.4 ms a time here, which half the
// resets of /bin/true paid at 384 KiB.
constexpr uint64_t kSettledBytes = 768 << 10;
// More is not reclaimed (a run that read a large file leaves its page cache):
// the sandbox is rebuilt instead.
constexpr uint64_t kReclaimedBytes = 16 << 20;

// A counter file read again from its start (cgroup files show fresh values each time).
bool read_counter(int fd, std::string& out) {
  char buf[1024];
  ssize_t got = pread(fd, buf, sizeof buf, 0);
  if (got < 0) return false;
  out.assign(buf, static_cast<size_t>(got));
  return true;
}

uint64_t read_counter_u64(int fd) {
  std::string text;
  return read_counter(fd, text) ? strtoull(text.c_str(), nullptr, 10) : 0;
}

uint64_t read_oom_kills(const Run& run) {
  std::string text;
  return read_counter(run.oom_fd, text) ? keyed_value(text, "oom_kill") : 0;
}

bool read_cpu_total_ns(const Run& run, uint64_t& ns) {
  const Counters& c = run.counters;
  std::string text;
  if (!read_counter(run.cpu_fd, text)) return false;
  uint64_t value = c.cpu_key.empty() ? strtoull(text.c_str(), nullptr, 10) : keyed_value(text, c.cpu_key);
  ns = value * c.cpu_ns_per_unit;
  return true;
}

// v1 resets the peak to the current usage on any write; v2 (6.12 on) resets the
// peak seen through the fd written to.
bool reset_peak(Run& run) {
  if (run.counters.peak_reset_per_fd) return write(run.peak_fd, "reset\n", 6) == 6;
  return pwrite(run.peak_fd, "0", 1, 0) == 1;
}

// What the last run left charged (page cache it brought in, dentries of names it
// looked up) is reclaimed: the next program, which has joined, holds nothing
// reclaimable yet (it runs on init's memory until its execve). What the kernel
// frees only after an RCU grace period (the inodes and dentries of the files the
// reset removed) is waited for, a little.
uint64_t reclaim(const Run& run) {
  const Counters& c = run.counters;
  uint64_t charged = read_counter_u64(run.usage_fd);
  if (charged > kReclaimedBytes) return charged;  // rebuilding costs less
  std::string ignored;
  for (int attempt = 0; attempt < 10 && charged > kSettledBytes; attempt++) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    write_file(c.reclaim_file, c.reclaim_amount ? std::to_string(charged) : "0", ignored);
    charged = read_counter_u64(run.usage_fd);
  }
  return charged;
}

bool open_counters(Run& run, std::string& error) {
  const Counters& c = run.counters;
  for (auto [fd, path, flags] : {std::tuple{&run.cpu_fd, &c.cpu_file, O_RDONLY}, std::tuple{&run.peak_fd, &c.peak_file, O_RDWR},
                                 std::tuple{&run.oom_fd, &c.oom_file, O_RDONLY}, std::tuple{&run.usage_fd, &c.usage_file, O_RDONLY}}) {
    if ((*fd = open(path->c_str(), flags | O_CLOEXEC)) < 0) {
      error = "cgroup: open " + *path + ": " + strerror(errno);
      return false;
    }
  }
  return true;
}

}  // namespace

bool create(const std::string& name, const std::string& cpus, Run& run, std::string& error) {
  const Info& info = detect();
  bool ok = false;
  if (info.version == Version::V1) ok = v1::create(info, name, cpus, run, error);
  else if (info.version == Version::V2) ok = v2::create(info, name, cpus, run, error);
  else error = "cgroup: " + info.problem;
  ok = ok && open_counters(run, error);
  if (!ok) destroy(run);
  return ok;
}

bool set_limits(const Run& run, const Limits& limits, const Limits& previous, std::string& error) {
  // v1's limit with swap may never be below the one without: raised, it goes first.
  std::vector<std::string> files = run.memory_limit_files;
  if (previous.memory_bytes != 0 && limits.memory_bytes > previous.memory_bytes) std::reverse(files.begin(), files.end());
  for (const std::string& file : files) {
    if (!write_file(file, std::to_string(limits.memory_bytes), error)) return false;
  }
  return write_file(run.pids_limit_file, std::to_string(limits.pids), error);
}

bool read_cpu_ns(const Run& run, uint64_t& ns) {
  if (!read_cpu_total_ns(run, ns)) return false;
  ns = ns > run.base.cpu_ns ? ns - run.base.cpu_ns : 0;
  return true;
}

Usage read_usage(const Run& run) {
  Usage usage;
  read_cpu_ns(run, usage.cpu_ns);
  usage.memory_peak_bytes = read_counter_u64(run.peak_fd);
  uint64_t oom_kills = read_oom_kills(run);
  usage.oom_kills = oom_kills > run.base.oom_kills ? oom_kills - run.base.oom_kills : 0;
  return usage;
}

bool reset_counters(Run& run) {
  if (reclaim(run) > kLeftoverBytes || !reset_peak(run)) return false;
  run.base.oom_kills = read_oom_kills(run);
  return read_cpu_total_ns(run, run.base.cpu_ns);
}

void destroy(Run& run) {
  for (int fd : run.procs_fds) close(fd);
  run.procs_fds.clear();
  for (int* fd : {&run.cpu_fd, &run.peak_fd, &run.oom_fd, &run.usage_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  // Children before parents: v2 nests nothing per run, v1 has one dir per controller.
  for (auto it = run.dirs.rbegin(); it != run.dirs.rend(); ++it) remove_dir(*it);
  run.dirs.clear();
}

}  // namespace cb::cgroup

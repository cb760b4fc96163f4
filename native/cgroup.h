// cgroup layer (supervisor side): one cgroup per run under a parent named for the
// project, for memory (no swap), pids, CPU accounting and optional cpuset pinning.
// v1 and v2 are both supported and detected at start; nothing outside our parent
// is ever written.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace cb::cgroup {

enum class Version { None, V1, V2 };

struct Info {
  Version version = Version::None;
  std::string parent;  // v2: our parent cgroup
  // v1: our parent in each controller's hierarchy ("" when that controller is missing)
  std::string memory, pids, cpuacct, cpuset;
  bool has_memory = false, has_pids = false, has_cpu = false, has_cpuset = false;
  bool has_swap_limit = false;  // memory.memsw / memory.swap.max exist
  std::string problem;          // why cgroups are unusable, when they are
};

// Written when the run is given, into a cgroup made beforehand.
struct Limits {
  uint64_t memory_bytes = 0;  // 0: not written yet
  uint64_t pids = 0;
  bool operator!=(const Limits& other) const { return memory_bytes != other.memory_bytes || pids != other.pids; }
};

struct Usage {
  uint64_t cpu_ns = 0;
  uint64_t memory_peak_bytes = 0;
  uint64_t oom_kills = 0;
};

// Where a version keeps the counters a run reads.
struct Counters {
  std::string cpu_file;  // CPU time: the whole file (v1, ns) or a key's value (v2, µs)
  std::string cpu_key;
  uint64_t cpu_ns_per_unit = 1;
  std::string peak_file;  // peak memory in bytes
  bool peak_reset_per_fd = false;  // v2: a write resets the peak seen through that fd
  std::string oom_file;   // "oom_kill N" among its lines
  std::string usage_file;  // memory charged now, in bytes
  // Writing here reclaims what the cgroup holds: v1 memory.force_empty (any
  // value), v2 memory.reclaim (an amount; what is charged now is written).
  std::string reclaim_file;
  bool reclaim_amount = false;
};

struct Run {
  std::vector<std::string> dirs;  // every cgroup directory we made for this run
  std::vector<int> procs_fds;     // where the program joins each (it writes "0")
  Counters counters;
  std::vector<std::string> memory_limit_files;  // each gets the memory limit (v1: with and without swap)
  std::string pids_limit_file;
  // The counter files stay open for the cgroup's life: each run reads them
  // again (pread) instead of opening them.
  int cpu_fd = -1, peak_fd = -1, oom_fd = -1, usage_fd = -1;
  // A sandbox serving several runs: the counters at the start of this one (reset_counters).
  Usage base;
};

// Detects once (thread-safe) which version and controllers are usable, creates
// our parent and sweeps cgroups left by dead processes.
const Info& detect();

// `cpus`: a cpuset list to pin the run to; empty: no pinning.
bool create(const std::string& name, const std::string& cpus, Run& run, std::string& error);
// `previous`: what the cgroups hold now (zero: nothing written yet).
bool set_limits(const Run& run, const Limits& limits, const Limits& previous, std::string& error);
// Both count from the run's start (reset_counters).
bool read_cpu_ns(const Run& run, uint64_t& ns);
Usage read_usage(const Run& run);
// Between two runs in one cgroup, the next program in it and waiting: what the
// last run left charged is reclaimed first; false when it still holds more than
// a trace of the last run's memory (the next run's limit and peak would count it), or the
// peak cannot be reset. Otherwise the next run's counters start from zero.
bool reset_counters(Run& run);
void destroy(Run& run);

// Shared by v1 and v2.
bool write_file(const std::string& path, const std::string& value, std::string& error);
bool read_file(const std::string& path, std::string& out);
bool make_dir(const std::string& path, Run& run, std::string& error);
bool open_attach_file(const std::string& dir, const char* file, Run& run, std::string& error);
void sweep_stale(const std::string& parent);

namespace v1 {
bool detect(Info& info);
bool create(const Info& info, const std::string& name, const std::string& cpus, Run& run, std::string& error);
}  // namespace v1

namespace v2 {
bool detect(Info& info);
bool create(const Info& info, const std::string& name, const std::string& cpus, Run& run, std::string& error);
}  // namespace v2

}  // namespace cb::cgroup

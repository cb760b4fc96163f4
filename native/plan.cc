// Turns a JobSpec into the Plan the child follows: every path, string and fd the
// child will need, resolved before it needs them — the sandbox's part before init
// is cloned, the program's part before the go message.
#include "plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <linux/capability.h>

#include <algorithm>
#include <fstream>

#include "landlock.h"

namespace cb {

namespace {

std::string staged(const std::string& path) { return std::string(kStaging) + path; }

const char* const kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "box:x:1000:1000:box:/box:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const char* const kGroup = "root:x:0:\nbox:x:1000:\nnogroup:x:65534:\n";
const char* const kHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";

void add_skeleton(Plan& plan) {
  for (const char* dir : {"/etc", "/proc", "/dev", "/box", "/tmp"}) plan.dirs.push_back(staged(dir));
  plan.files = {{staged("/etc/passwd"), kPasswd},
                {staged("/etc/group"), kGroup},
                {staged("/etc/hosts"), kHosts},
                {staged("/etc/hostname"), plan.hostname + "\n"}};
  // Landlock allows these files one by one, not /etc: were the mount layer ever
  // to expose the host's /etc, Landlock would still refuse its other files.
  for (const char* file : {"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname"})
    plan.landlock_rules.push_back({file, landlock::kReadFile});
  for (const char* file : {"kcore", "sysrq-trigger", "keys", "key-users", "timer_list", "kallsyms", "sched_debug",
                           "latency_stats", "kmsg", "kpageflags", "kpagecount", "kpagecgroup", "config.gz",
                           "vmallocinfo", "pagetypeinfo", "slabinfo", "mtrr", "modules", "cmdline"})
    plan.proc_masked_files.push_back(staged(std::string("/proc/") + file));
  for (const char* dir : {"acpi", "scsi", "bus", "fs", "irq", "asound", "driver", "tty", "pressure", "dynamic_debug"})
    plan.proc_masked_dirs.push_back(staged(std::string("/proc/") + dir));
  for (const char* node : {"null", "zero", "full", "random", "urandom"}) {
    std::string path = std::string("/dev/") + node;
    plan.dev_binds.push_back({path, staged(path), false});
    plan.landlock_rules.push_back({path, landlock::kDevice});
  }
}

// `landlock`: whether the path also gets a Landlock rule (only exposed paths,
// in tests, do not).
bool add_read_only(Plan& plan, std::vector<std::string> paths, bool landlock, std::string& error) {
  // Parents before children, so a nested bind lands on top of its parent's.
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  for (const std::string& path : paths) {
    struct stat info;
    if (lstat(path.c_str(), &info) != 0) {
      error = "read-only path does not exist: " + path;
      return false;
    }
    plan.read_only_ids.push_back({path, info.st_dev, info.st_ino});
    if (S_ISLNK(info.st_mode)) {
      char target[4096];
      ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
      if (n < 0) {
        error = "cannot read link: " + path;
        return false;
      }
      plan.symlinks.push_back({std::string(target, static_cast<size_t>(n)), staged(path)});
      continue;
    }
    bool is_dir = S_ISDIR(info.st_mode);
    plan.binds.push_back({path, staged(path), is_dir});
    if (landlock) plan.landlock_rules.push_back({path, is_dir ? landlock::kReadOnly : landlock::kExecute | landlock::kReadFile});
  }
  return true;
}

// Replaces the last run's (a sandbox serves several).
void add_exec(Plan& plan, const JobSpec& spec) {
  plan.argv = spec.argv;
  plan.envp = spec.env;
  plan.argv_ptrs.clear();
  plan.envp_ptrs.clear();
  plan.exec_candidates.clear();
  for (std::string& arg : plan.argv) plan.argv_ptrs.push_back(arg.data());
  plan.argv_ptrs.push_back(nullptr);
  for (std::string& var : plan.envp) plan.envp_ptrs.push_back(var.data());
  plan.envp_ptrs.push_back(nullptr);
  const std::string& program = spec.argv.front();
  if (program.find('/') != std::string::npos) {
    plan.exec_candidates.push_back(program);
    return;
  }
  for (const std::string& dir : spec.path_dirs) plan.exec_candidates.push_back(dir + "/" + program);
}

rlim_t hard_limit(int resource) {
  struct rlimit current;
  return getrlimit(resource, &current) == 0 ? current.rlim_max : RLIM_INFINITY;
}

rlim_t clamp_to_hard(rlim_t hard, uint64_t wanted) { return hard == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, hard); }

void add_rlimits(Plan& plan, const JobSpec& spec) {
  // RLIMIT_CPU is a per-process backstop one second past the limit; the tree's
  // total is watched in the cgroup.
  rlim_t cpu_seconds = (spec.cpu_ms + 999) / 1000 + 1;
  // Node's own hard limits, read once: a run may not ask for more.
  static const rlim_t fsize = hard_limit(RLIMIT_FSIZE), nofile = hard_limit(RLIMIT_NOFILE),
                      stack = hard_limit(RLIMIT_STACK);
  plan.rlimits = {{RLIMIT_CPU, cpu_seconds},
                  {RLIMIT_FSIZE, clamp_to_hard(fsize, spec.file_bytes)},
                  {RLIMIT_NOFILE, clamp_to_hard(nofile, spec.open_files)},
                  {RLIMIT_STACK, clamp_to_hard(stack, spec.stack_bytes)},
                  {RLIMIT_CORE, 0},
                  {RLIMIT_MEMLOCK, 0}};
}

void add_landlock(Plan& plan, const JobSpec& spec) {
  plan.landlock_abi = spec.landlock_abi;
  // An image's or a prepared root's whole tree is what the program runs from.
  plan.landlock_rules.push_back({"/", spec.root_layers.empty() ? landlock::kReadDir : landlock::kReadOnly});
  plan.landlock_rules.push_back({"/proc", landlock::kReadFile | landlock::kReadDir});
  plan.landlock_rules.push_back({kWorkDir, landlock::kReadWrite});
  plan.landlock_rules.push_back({"/tmp", landlock::kReadWrite});
}

// The root's layers, top first, under the staging tmpfs (which holds the
// generated files and mount points): overlayfs options. Separators in a path
// would split it, so such paths are refused.
bool add_root_layers(Plan& plan, const JobSpec& spec, std::string& error) {
  if (spec.root_layers.empty()) return true;
  plan.root_overlay = std::string("lowerdir=") + kStaging;
  for (const std::string& layer : spec.root_layers) {
    struct stat info;
    if (layer.empty() || layer[0] != '/' || layer.find_first_of(":,\\") != std::string::npos) {
      error = "root layer path not usable: " + layer;
      return false;
    }
    if (stat(layer.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      error = "root layer is not a directory: " + layer;
      return false;
    }
    if (layer == "/" || std::string(kStaging).rfind(layer + "/", 0) == 0) {
      error = "root layer holds the sandbox's own staging dir: " + layer;
      return false;
    }
    plan.root_overlay += ":" + layer;
  }
  return true;
}

// /proc/sys/kernel/cap_last_cap, read once: the program drops every capability
// up to it from its bounding set.
int last_capability() {
  static const int last = [] {
    std::ifstream file("/proc/sys/kernel/cap_last_cap");
    int value = CAP_LAST_CAP;
    file >> value;
    return value;
  }();
  return last;
}

}  // namespace

bool plan_sandbox(const JobSpec& spec, Plan& plan, std::string& error) {
  add_skeleton(plan);
  if (!add_read_only(plan, spec.ro_paths, true, error) || !add_read_only(plan, spec.exposed, false, error)) return false;
  if (!add_root_layers(plan, spec, error)) return false;
  add_landlock(plan, spec);
  plan.last_capability = last_capability();
  plan.tmpfs_bytes = spec.tmpfs_bytes;
  plan.tmpfs_inodes = spec.tmpfs_inodes;
  return true;
}

void plan_program(const JobSpec& spec, Plan& plan) {
  add_exec(plan, spec);
  add_rlimits(plan, spec);
}

}  // namespace cb

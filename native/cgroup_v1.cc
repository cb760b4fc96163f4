// cgroup v1: one hierarchy per controller. Our parent is <mount>/cellblock in the
// memory, pids and cpuacct hierarchies (and cpuset when pinning); each run gets a
// child in each. The program joins through `tasks`, moving only its one thread:
// a cgroup.procs write takes the global threadgroup lock, which waits for an RCU
// grace period (~10 ms here) unless another attach happened just before.
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "cgroup.h"
#include "cgroup_mounts.h"

namespace cb::cgroup {

namespace v1 {

namespace {

std::string hierarchy_of(const std::vector<Mount>& mounts, const char* controller) {
  for (const Mount& mount : mounts) {
    if (mount.fstype != "cgroup") continue;
    if (std::find(mount.controllers.begin(), mount.controllers.end(), controller) != mount.controllers.end())
      return mount.path;
  }
  return "";
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// A new v1 cpuset cgroup starts with no CPUs and no memory nodes.
void inherit_cpuset(const std::string& root, const std::string& parent) {
  std::string ignored, value;
  for (const char* file : {"/cpuset.cpus", "/cpuset.mems"}) {
    std::string current;
    read_file(parent + file, current);
    if (current.find_first_not_of(" \n") == std::string::npos && read_file(root + file, value))
      write_file(parent + file, value, ignored);
  }
}

bool prepare_parent(const std::string& root, std::string& parent, Info& info) {
  if (root.empty()) return false;
  parent = root + "/cellblock";
  if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
    info.problem = "cannot create " + parent + ": " + strerror(errno);
    parent.clear();
    return false;
  }
  sweep_stale(parent);
  return true;
}

}  // namespace

bool detect(Info& info) {
  std::vector<Mount> mounts = list_mounts();
  info.version = Version::V1;
  info.has_memory = prepare_parent(hierarchy_of(mounts, "memory"), info.memory, info);
  info.has_pids = prepare_parent(hierarchy_of(mounts, "pids"), info.pids, info);
  info.has_cpu = prepare_parent(hierarchy_of(mounts, "cpuacct"), info.cpuacct, info);
  std::string cpuset_root = hierarchy_of(mounts, "cpuset");
  info.has_cpuset = prepare_parent(cpuset_root, info.cpuset, info);
  if (info.has_cpuset) inherit_cpuset(cpuset_root, info.cpuset);
  info.has_swap_limit = info.has_memory && exists(info.memory + "/memory.memsw.limit_in_bytes");
  if (!info.has_memory || !info.has_pids || !info.has_cpu) {
    if (info.problem.empty()) {
      info.problem = std::string("cgroup v1 is missing the ") +
                     (!info.has_memory ? "memory" : !info.has_pids ? "pids" : "cpuacct") + " controller";
    }
    return false;
  }
  return true;
}

bool create(const Info& info, const std::string& name, const std::string& cpus, Run& run, std::string& error) {
  std::string memory = info.memory + "/" + name;
  if (!make_dir(memory, run, error) || !open_attach_file(memory, "tasks", run, error)) return false;
  // memsw after the plain limit: it may never be below it
  run.memory_limit_files.push_back(memory + "/memory.limit_in_bytes");
  if (info.has_swap_limit) run.memory_limit_files.push_back(memory + "/memory.memsw.limit_in_bytes");
  run.counters.peak_file = memory + "/memory.max_usage_in_bytes";
  run.counters.oom_file = memory + "/memory.oom_control";
  run.counters.usage_file = memory + "/memory.usage_in_bytes";
  run.counters.reclaim_file = memory + "/memory.force_empty";

  std::string pids = info.pids + "/" + name;
  if (!make_dir(pids, run, error) || !open_attach_file(pids, "tasks", run, error)) return false;
  run.pids_limit_file = pids + "/pids.max";

  std::string cpuacct = info.cpuacct + "/" + name;
  if (!make_dir(cpuacct, run, error) || !open_attach_file(cpuacct, "tasks", run, error)) return false;
  run.counters.cpu_file = cpuacct + "/cpuacct.usage";

  if (cpus.empty()) return true;
  if (!info.has_cpuset) {
    error = "cgroup: cpuset pinning asked for, but the cpuset controller is missing";
    return false;
  }
  std::string cpuset = info.cpuset + "/" + name;
  std::string mems;
  read_file(info.cpuset + "/cpuset.mems", mems);
  return make_dir(cpuset, run, error) && write_file(cpuset + "/cpuset.cpus", cpus, error) &&
         write_file(cpuset + "/cpuset.mems", mems, error) && open_attach_file(cpuset, "tasks", run, error);
}

}  // namespace v1

}  // namespace cb::cgroup

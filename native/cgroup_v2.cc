// cgroup v2: one unified hierarchy. Our parent is <mount>/cellblock (or the
// delegated cgroup named by CELLBLOCK_CGROUP_PARENT) with the memory, pids and
// cpuset controllers enabled for its children; each run is one child. We never
// enable controllers above our parent: if the level above does not offer them,
// detection fails and says which one is missing.
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "cgroup.h"
#include "cgroup_mounts.h"

namespace cb::cgroup::v2 {

namespace {

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (w == word) return true;
  }
  return false;
}

std::string unified_mount() {
  for (const Mount& mount : list_mounts()) {
    if (mount.fstype == "cgroup2") return mount.path;
  }
  return "";
}

std::string parent_path(const std::string& mount) {
  const char* delegated = getenv("CELLBLOCK_CGROUP_PARENT");
  return delegated != nullptr && delegated[0] == '/' ? delegated : mount + "/cellblock";
}

std::string dirname_of(const std::string& path) { return path.substr(0, path.find_last_of('/')); }

bool enable_controllers(Info& info, const std::string& offered) {
  std::string error;
  std::string enable = "+memory +pids";
  if (has_word(offered, "cpu")) enable += " +cpu";
  if (info.has_cpuset) enable += " +cpuset";
  if (!write_file(info.parent + "/cgroup.subtree_control", enable, error)) {
    info.problem = error;
    return false;
  }
  return true;
}

}  // namespace

bool detect(Info& info) {
  std::string mount = unified_mount();
  if (mount.empty()) return false;
  info.version = Version::V2;
  info.parent = parent_path(mount);
  std::string offered;
  // Controllers our parent can hand to its children are those its own parent
  // enabled for it; a parent we create inherits what the level above offers.
  std::string above = dirname_of(info.parent);
  if (!read_file(above + "/cgroup.subtree_control", offered)) offered.clear();
  if (access(info.parent.c_str(), F_OK) == 0) read_file(info.parent + "/cgroup.controllers", offered);
  for (const char* needed : {"memory", "pids"}) {
    if (!has_word(offered, needed)) {
      info.problem = std::string("cgroup v2: the ") + needed + " controller is not enabled in " + above +
                     "/cgroup.subtree_control (delegate it to Cellblock, or set CELLBLOCK_CGROUP_PARENT)";
      return false;
    }
  }
  info.has_memory = info.has_pids = info.has_cpu = true;
  info.has_cpuset = has_word(offered, "cpuset");
  if (mkdir(info.parent.c_str(), 0755) != 0 && errno != EEXIST) {
    info.problem = "cannot create " + info.parent + ": " + strerror(errno);
    return false;
  }
  if (!enable_controllers(info, offered)) return false;
  sweep_stale(info.parent);
  info.has_swap_limit = true;  // memory.swap.max is written when present
  return true;
}

bool create(const Info& info, const std::string& name, const std::string& cpus, Run& run, std::string& error) {
  std::string dir = info.parent + "/" + name;
  if (!make_dir(dir, run, error)) return false;
  std::string ignored;
  run.memory_limit_files = {dir + "/memory.max"};
  run.pids_limit_file = dir + "/pids.max";
  if (access((dir + "/memory.swap.max").c_str(), F_OK) == 0 && !write_file(dir + "/memory.swap.max", "0", error))
    return false;
  // The OOM killer takes the whole run, not one process of it.
  write_file(dir + "/memory.oom.group", "1", ignored);
  if (!cpus.empty()) {
    if (!info.has_cpuset) {
      error = "cgroup: cpuset pinning asked for, but the cpuset controller is not delegated";
      return false;
    }
    if (!write_file(dir + "/cpuset.cpus", cpus, error)) return false;
  }
  run.counters = {dir + "/cpu.stat", "usage_usec", 1000, dir + "/memory.peak", true, dir + "/memory.events", dir + "/memory.current",
                  dir + "/memory.reclaim", true};
  return open_attach_file(dir, "cgroup.procs", run, error);
}

}  // namespace cb::cgroup::v2

// Parses /proc/self/mountinfo for cgroup and cgroup2 mounts.
#include "cgroup_mounts.h"

#include <sstream>

#include "cgroup.h"

namespace cb::cgroup {

std::vector<Mount> list_mounts() {
  std::vector<Mount> mounts;
  std::string text;
  if (!read_file("/proc/self/mountinfo", text)) return mounts;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, field;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> field && field != "-") {
    }
    Mount mount;
    std::string source, options;
    fields >> mount.fstype >> source >> options;
    if (mount.fstype != "cgroup" && mount.fstype != "cgroup2") continue;
    mount.path = point;
    std::istringstream opts(options);
    std::string opt;
    while (std::getline(opts, opt, ',')) mount.controllers.push_back(opt);
    mounts.push_back(mount);
  }
  return mounts;
}

}  // namespace cb::cgroup

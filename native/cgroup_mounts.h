// Where each cgroup hierarchy is mounted, from /proc/self/mountinfo.
#pragma once

#include <string>
#include <vector>

namespace cb::cgroup {

struct Mount {
  std::string path;
  std::string fstype;                    // "cgroup" or "cgroup2"
  std::vector<std::string> controllers;  // v1 super options naming controllers
};

std::vector<Mount> list_mounts();

}  // namespace cb::cgroup

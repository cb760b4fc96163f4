// The Kattis output validator protocol: exit codes and the feedback directory.
#pragma once
#include <fstream>
#include <string>

inline int accept() { return 42; }

inline int reject(const std::string& feedback_dir, const std::string& why) {
  std::ofstream(feedback_dir + "judgemessage.txt") << why << "\n";
  return 43;
}

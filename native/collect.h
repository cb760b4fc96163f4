// Collecting files from the work dir after the program has exited (supervisor
// side). The program is untrusted and so is everything it left: no link it planted
// is followed, nothing but a regular file is read, sizes are capped.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace cb {

struct CollectedFile {
  std::string path;
  std::string data;
  uint32_t mode;
};

struct RefusedFile {
  std::string path;
  std::string reason;
};

// Reads `paths` (relative to the work dir) from the sandbox whose init is `init`,
// while its mount namespace still exists; at most `max_bytes` in all.
void collect_files(pid_t init, const std::vector<std::string>& paths, uint64_t max_bytes,
                   std::vector<CollectedFile>& files, std::vector<RefusedFile>& refused);

}  // namespace cb

// Collecting files from the work dir after the program has exited (supervisor
// side). The program is untrusted and so is everything it left: no link it planted
// is followed, nothing but a regular file is read, sizes and counts are capped,
// and every file not taken is named with the reason.
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

// Reads `patterns` (relative to the work dir: exact paths, or globs where `*`,
// `?` and `[…]` match within a name and `**` any number of directories) from the
// sandbox whose init is `init`, while its mount namespace still exists; at most
// `max_bytes` and `max_files` in all.
void collect_files(pid_t init, const std::vector<std::string>& patterns, uint64_t max_bytes, uint64_t max_files,
                   std::vector<CollectedFile>& files, std::vector<RefusedFile>& refused);

}  // namespace cb

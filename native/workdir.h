// The sandbox's work dir, reached from the supervisor's side through init's root
// (/proc/<init>/root/box): files are copied in there once the sandbox is built and
// the run is given, and collected from there when it ends.
#pragma once

#include <linux/openat2.h>
#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "supervisor.h"

namespace cb {

// Paths resolved inside a directory, never out of it, never through a link.
constexpr uint64_t kBeneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

// An O_PATH fd on the work dir of the sandbox whose init is `init`, or -1.
int workdir_open(pid_t init);

// openat2 with `resolve` flags (RESOLVE_BENEATH and the like), close-on-exec.
int open_beneath(int dir, const char* path, uint64_t flags, uint64_t resolve, mode_t mode = 0);

// Copies the run's files in, owned by the program's host uid. False with `error`
// and `err` (errno) when one cannot be.
bool workdir_copy_in(int work, const std::vector<CopySpec>& copies, uid_t uid, gid_t gid, std::string& error,
                     int& err);

}  // namespace cb

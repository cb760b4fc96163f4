#include "collect.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "workdir.h"

namespace cb {

namespace {

constexpr uint64_t kBeneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

// Why a file cannot be taken, or "" when `data` holds it.
std::string read_one(int work, const std::string& path, uint64_t budget, CollectedFile& file) {
  // O_NONBLOCK: a FIFO the program left must not block us (it is refused below).
  int fd = open_beneath(work, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, kBeneath | RESOLVE_NO_XDEV);
  if (fd < 0) return errno == ELOOP || errno == EXDEV ? "a link or a mount point" : strerror(errno);
  struct stat info;
  std::string reason;
  if (fstat(fd, &info) != 0) reason = strerror(errno);
  else if (!S_ISREG(info.st_mode)) reason = "not a regular file";
  else if (static_cast<uint64_t>(info.st_size) > budget) reason = "over the size limit";
  char buf[65536];
  ssize_t n;
  while (reason.empty() && (n = read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) reason = strerror(errno);
    else if (file.data.size() + static_cast<size_t>(n) > budget) reason = "over the size limit";
    else file.data.append(buf, static_cast<size_t>(n));
  }
  file.mode = info.st_mode & 0777;
  close(fd);
  return reason;
}

}  // namespace

void collect_files(pid_t init, const std::vector<std::string>& paths, uint64_t max_bytes,
                   std::vector<CollectedFile>& files, std::vector<RefusedFile>& refused) {
  int work = workdir_open(init);
  uint64_t used = 0;
  for (const std::string& path : paths) {
    if (work < 0) {
      refused.push_back({path, "work dir not reachable"});
      continue;
    }
    CollectedFile file{path, "", 0};
    std::string reason = read_one(work, path, max_bytes - used, file);
    if (!reason.empty()) {
      refused.push_back({path, reason});
      continue;
    }
    used += file.data.size();
    files.push_back(std::move(file));
  }
  if (work >= 0) close(work);
}

}  // namespace cb

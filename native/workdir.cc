#include "workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <set>
#include <shared_mutex>

#include "clone.h"
#include "sandbox.h"

namespace cb {

namespace {

// Nothing in a sandbox that has not run yet can plant a link, but copies go
// through the same guard as collection all the same.
constexpr uint64_t kInside = kBeneath | RESOLVE_NO_XDEV;

bool failed(const std::string& step, const std::string& path, std::string& error, int& err) {
  err = errno;
  error = "workdir: " + step + " " + path + ": " + strerror(err);
  return false;
}

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool copy_from_host(int fd, const std::string& source, std::string& error, int& err) {
  // O_NONBLOCK: a FIFO must not block the open; only a regular file is copied
  int from = open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (from < 0) return failed("open", source, error, err);
  struct stat info;
  if (fstat(from, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(from);
    errno = EINVAL;
    err = EINVAL;
    error = "workdir: " + source + ": not a regular file";
    return false;
  }
  ssize_t n;
  while ((n = sendfile(fd, from, nullptr, 1 << 30)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(from);
      return failed("copy", source, error, err);
    }
  }
  close(from);
  return true;
}

// mkdir -p of the parents of `dest` (relative, validated: no "..", not absolute).
bool make_parents(int work, const std::string& dest, uid_t uid, gid_t gid, std::set<std::string>& made,
                  std::string& error, int& err) {
  for (size_t slash = dest.find('/'); slash != std::string::npos; slash = dest.find('/', slash + 1)) {
    std::string dir = dest.substr(0, slash);
    if (!made.insert(dir).second) continue;
    if (mkdirat(work, dir.c_str(), 0755) != 0 && errno != EEXIST) return failed("mkdir", dir, error, err);
    int fd = open_beneath(work, dir.c_str(), O_RDONLY | O_DIRECTORY, kInside);
    if (fd < 0 || fchown(fd, uid, gid) != 0) {
      if (fd >= 0) close(fd);
      return failed("chown", dir, error, err);
    }
    close(fd);
  }
  return true;
}

}  // namespace

int open_beneath(int dir, const char* path, uint64_t flags, uint64_t resolve, mode_t mode) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = resolve;
  return static_cast<int>(syscall(SYS_openat2, dir, path, &how, sizeof how));
}

int workdir_open(pid_t init) {
  std::string root = "/proc/" + std::to_string(init) + "/root";
  int root_fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return -1;
  // The work dir is a mount point: crossing into it is expected, once.
  int work = open_beneath(root_fd, kWorkDir + 1, O_PATH | O_DIRECTORY, kBeneath);
  close(root_fd);
  return work;
}

bool workdir_copy_in(int work, const std::vector<CopySpec>& copies, uid_t uid, gid_t gid, std::string& error,
                     int& err) {
  std::set<std::string> made;
  for (const CopySpec& copy : copies) {
    if (!make_parents(work, copy.dest, uid, gid, made, error, err)) return false;
    std::shared_lock<std::shared_mutex> no_clone_meanwhile(clone_lock());
    int fd = open_beneath(work, copy.dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, kInside, 0600);
    if (fd < 0) return failed("create", copy.dest, error, err);
    bool ok = copy.from_memory ? (write_all(fd, copy.content) || failed("write", copy.dest, error, err))
                               : copy_from_host(fd, copy.source, error, err);
    if (ok && (fchown(fd, uid, gid) != 0 || fchmod(fd, copy.mode & 0777) != 0))
      ok = failed("chown", copy.dest, error, err);
    close(fd);
    if (!ok) return false;
  }
  return true;
}

}  // namespace cb

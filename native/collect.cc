#include "collect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "sandbox.h"
#include "workdir.h"

namespace cb {

namespace {

// A walk looks at no more entries than this, and goes no deeper: the work dir's
// inode limit bounds it too, but a walk must end whatever the tree.
constexpr uint64_t kMaxEntries = 200000;
constexpr int kMaxDepth = 64;

const char* const kLinkRefused = "a link or a mount point";

// Why a file cannot be taken, or "" when `data` holds it. `path` is relative to
// `dir`; nothing on the way is followed or crossed.
std::string read_one(int dir, const char* path, uint64_t budget, CollectedFile& file) {
  // O_NONBLOCK: a FIFO the program left must not block us (it is refused below).
  int fd = open_beneath(dir, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, kBeneath | RESOLVE_NO_XDEV);
  if (fd < 0) return errno == ELOOP || errno == EXDEV ? kLinkRefused : strerror(errno);
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

bool is_glob(const std::string& pattern) { return pattern.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t slash; (slash = path.find('/', start)) != std::string::npos; start = slash + 1)
    parts.push_back(path.substr(start, slash - start));
  parts.push_back(path.substr(start));
  return parts;
}

// Segment by segment; "**" matches any number of segments (none included).
bool matches(const std::vector<std::string>& pattern, size_t p, const std::vector<std::string>& path, size_t i) {
  if (p == pattern.size()) return i == path.size();
  if (pattern[p] == "**") {
    for (size_t skip = i; skip <= path.size(); skip++)
      if (matches(pattern, p + 1, path, skip)) return true;
    return false;
  }
  return i < path.size() && fnmatch(pattern[p].c_str(), path[i].c_str(), 0) == 0 && matches(pattern, p + 1, path, i + 1);
}

struct Collector {
  uint64_t max_bytes, max_files, used = 0, entries = 0;
  std::vector<CollectedFile>& files;
  std::vector<RefusedFile>& refused;
  std::set<std::string> seen;
  bool stopped = false;  // a cap was reached: nothing more is taken

  // `dir` and `name` reach the file; `path` is its name relative to the work dir.
  void take(int dir, const char* name, const std::string& path) {
    if (!seen.insert(path).second || stopped) return;
    if (files.size() >= max_files) {
      refused.push_back({path, "over the file count limit; collection stopped here"});
      stopped = true;
      return;
    }
    CollectedFile file{path, "", 0};
    std::string reason = read_one(dir, name, max_bytes - used, file);
    if (!reason.empty()) {
      refused.push_back({path, reason});
      return;
    }
    used += file.data.size();
    files.push_back(std::move(file));
  }

  void refuse(const std::string& path, const char* reason) {
    if (seen.insert(path).second && !stopped) refused.push_back({path, reason});
  }

  // Depth first, in name order within a directory, never through a link or into
  // another mount; only what a glob matches is taken or refused.
  void walk(int dir, const std::string& prefix, int depth, const std::vector<std::vector<std::string>>& globs) {
    DIR* stream = fdopendir(dir);
    if (stream == nullptr) {
      close(dir);
      return;
    }
    std::vector<std::pair<std::string, unsigned char>> entries_here;
    while (struct dirent* entry = readdir(stream)) {
      if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
      if (++entries > kMaxEntries) {
        refused.push_back({prefix.empty() ? "." : prefix, "too many entries to look at; collection stopped here"});
        stopped = true;
        break;
      }
      entries_here.emplace_back(entry->d_name, entry->d_type);
    }
    std::sort(entries_here.begin(), entries_here.end());
    int fd = dirfd(stream);
    for (const auto& [name, type] : entries_here) {
      if (stopped) break;
      std::string path = prefix.empty() ? name : prefix + "/" + name;
      std::vector<std::string> parts = split(path);
      bool wanted = false;
      for (const auto& glob : globs) wanted = wanted || matches(glob, 0, parts, 0);
      if (type == DT_DIR) {
        if (depth >= kMaxDepth) {
          refuse(path, "too deep; not looked into");
          continue;
        }
        int sub = open_beneath(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, kBeneath | RESOLVE_NO_XDEV);
        if (sub >= 0) walk(sub, path, depth + 1, globs);
        continue;
      }
      if (!wanted) continue;
      if (type == DT_LNK) refuse(path, kLinkRefused);
      else if (type != DT_REG) refuse(path, "not a regular file");  // FIFOs, devices, sockets: never opened
      else take(fd, name.c_str(), path);
    }
    closedir(stream);
  }
};

}  // namespace

void collect_files(pid_t init, const std::vector<std::string>& patterns, uint64_t max_bytes, uint64_t max_files,
                   std::vector<CollectedFile>& files, std::vector<RefusedFile>& refused) {
  int work = workdir_open(init);
  Collector collector{max_bytes, max_files, 0, 0, files, refused, {}, false};
  std::vector<std::vector<std::string>> globs;
  for (const std::string& pattern : patterns) {
    if (work < 0) {
      refused.push_back({pattern, "work dir not reachable"});
      continue;
    }
    if (is_glob(pattern)) globs.push_back(split(pattern));
    else collector.take(work, pattern.c_str(), pattern);
  }
  if (work >= 0 && !globs.empty()) {
    int root = open_beneath(work, ".", O_RDONLY | O_DIRECTORY, kBeneath);
    if (root >= 0) collector.walk(root, "", 0, globs);
  }
  if (work >= 0) close(work);
}

}  // namespace cb

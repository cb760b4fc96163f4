// Between two runs of one sandbox (init's side, async-signal-safe). What a run
// can leave behind after its last process is dead:
// - the work dir's and /tmp's own mode, times and inode flags: put back here;
// - files in the work dir and /tmp: removed here, and the tmpfs must then hold
//   exactly what it held when built (a file kept open by a socket in flight, say,
//   still takes room: the sandbox is then not reused); read-only paths bound
//   under them stay, and must be found where they were bound;
// - unix sockets kept alive in flight (an SCM_RIGHTS cycle), bound to an abstract
//   name the next run could reach: any socket left in the namespace forbids reuse;
// - SysV objects and message queues: the run's own IPC namespace took them along
//   (child.cc);
// - memory charged to the cgroup, and its counters: the supervisor reclaims and
//   resets them (cgroup.cc);
// - processes: init killed and reaped them before it reported.
// When anything is off the sandbox is not reused but torn down: a fresh one is
// always correct, reuse only saves time.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

namespace cb {

namespace {

// Deeper trees are not worth walking: the sandbox is torn down instead.
constexpr int kMaxDepth = 16;

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

bool is_dot(const char* name) { return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)); }

// Calls `visit(name, type)` for each entry of `dir` but . and ..; false when the
// directory cannot be read or `visit` says stop.
template <typename Visit>
bool each_entry(int dir, Visit visit) {
  char buf[2048];
  for (;;) {
    long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (got < 0) return false;
    if (got == 0) return true;
    for (long offset = 0; offset < got;) {
      auto* entry = reinterpret_cast<LinuxDirent64*>(buf + offset);
      offset += entry->d_reclen;
      if (!is_dot(entry->d_name) && !visit(entry->d_name, entry->d_type)) return false;
    }
  }
}

bool empty_dir(int dir, dev_t dev, int depth, bool& kept);

// A read-only path under /tmp is a mount point of the built root: another
// device. It stays, and so do the directories that lead to it once nothing
// else is in them (the program cannot write in those: they are root's).
bool on_other_device(int dir, const char* name, dev_t dev) {
  struct stat info;
  return fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_dev != dev;
}

// (A file bound there cannot be unlinked: EBUSY, or EACCES in the read-only
// directory made for it. Nothing the program made is on another device.)
bool remove_file(int dir, dev_t dev, const char* name, bool& kept) {
  if (unlinkat(dir, name, 0) == 0) return true;
  if (!on_other_device(dir, name, dev)) return false;
  kept = true;
  return true;
}

// A directory leading to a mount point is root's: the program can neither
// write in it nor set its times, nor can init, so its mtime is still the
// build's; but the program can rename it (it owns /tmp), which sets its ctime
// to a time of its choosing, a message the reset cannot wipe. Untouched, its
// ctime is its mtime (both set by the last entry made in it). One under the
// work dir that a run's file was copied in through is the program's (the copy
// chowns each directory on the way): its mode, times and attributes are then
// the program's to set, and nothing here sets them back.
bool as_built(const struct stat& dir) {
  return dir.st_uid != kProgramUid && dir.st_ctim.tv_sec == dir.st_mtim.tv_sec &&
         dir.st_ctim.tv_nsec == dir.st_mtim.tv_nsec;
}

// One entry of a directory being emptied; `kept`: a mount point stayed in it.
bool remove_entry(int dir, dev_t dev, const char* name, unsigned char type, int depth, bool& kept) {
  if (type != DT_DIR && type != DT_UNKNOWN) return remove_file(dir, dev, name, kept);
  int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0) return type == DT_UNKNOWN && remove_file(dir, dev, name, kept);
  struct stat info;
  bool mount_point = fstat(sub, &info) != 0 || info.st_dev != dev;
  bool below = false;
  bool emptied = mount_point || (depth > 0 && empty_dir(sub, dev, depth - 1, below));
  close(sub);
  if (!emptied) return false;
  if (mount_point) {
    kept = true;
    return true;
  }
  if (below) {
    kept = true;
    return as_built(info);
  }
  return unlinkat(dir, name, AT_REMOVEDIR) == 0;
}

// Removes everything in `dir` but mount points (and the way to them); false
// when something else is left.
bool empty_dir(int dir, dev_t dev, int depth, bool& kept) {
  return each_entry(dir, [&](const char* name, unsigned char type) { return remove_entry(dir, dev, name, type, depth, kept); });
}

// The program owns the work dir and /tmp, and may mark them for the next run:
// their modes go back to the built ones, their times to now (utimensat could
// have written any 128 bits there), their inode flags (no-dump, no-atime:
// FS_IOC_SETFLAGS, ioctl being open; a tmpfs before Linux 6.0 has none: ENOTTY)
// to none; an extended attribute (or ACL) set on them forbids reuse.
bool empty_path(const char* path, mode_t mode) {
  int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) return false;
  struct stat info;
  const struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  int no_flags = 0;
  bool kept = false;
  bool emptied = fstat(dir, &info) == 0 && empty_dir(dir, info.st_dev, kMaxDepth, kept) && fchmod(dir, mode) == 0 &&
                 futimens(dir, now) == 0 && (ioctl(dir, FS_IOC_SETFLAGS, &no_flags) == 0 || errno == ENOTTY) &&
                 flistxattr(dir, nullptr, 0) == 0;
  close(dir);
  return emptied;
}

// /proc/net/unix lists the sockets of our network namespace: only its header
// line may be left.
bool no_unix_sockets() {
  int fd = open("/proc/net/unix", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t got = read(fd, buf, sizeof buf);
  close(fd);
  int lines = 0;
  for (ssize_t i = 0; i < got; i++) lines += buf[i] == '\n';
  return got > 0 && lines == 1;
}

// The program owns the work dir and /tmp: it may have moved the directories
// that lead to a read-only path bound under them. Each must be found where it
// was bound, the host's file itself (a bind shows the host's device and inode).
bool read_only_paths_in_place(const Plan& plan) {
  for (const HostPathId& id : plan.read_only_ids) {
    if (!in_work_tmpfs(id.path)) continue;
    struct stat info;
    if (lstat(id.path.c_str(), &info) != 0 || info.st_dev != id.dev || info.st_ino != id.ino) return false;
  }
  return true;
}

// Reads every directory under `dir` on its device, as `ls -R` would.
void list_tree(int dir, dev_t dev, int depth) {
  each_entry(dir, [&](const char* name, unsigned char type) {
    if (type != DT_DIR || depth == 0) return true;
    int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat info;
    if (sub >= 0 && fstat(sub, &info) == 0 && info.st_dev == dev) list_tree(sub, dev, depth - 1);
    if (sub >= 0) close(sub);
    return true;
  });
}

}  // namespace

void settle_built_tree() {
  for (const char* path : {kWorkDir, "/tmp"}) {
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat info;
    if (dir >= 0 && fstat(dir, &info) == 0) list_tree(dir, info.st_dev, kMaxDepth);
    if (dir >= 0) close(dir);
  }
}

WorkDirUsage work_dir_usage() {
  struct statfs info;
  if (statfs(kWorkDir, &info) != 0) return {~0ULL, ~0ULL};  // never equal to a later reading
  return {info.f_files - info.f_ffree, info.f_blocks - info.f_bfree};
}

bool reset_for_next_run(const Plan& plan, const WorkDirUsage& empty) {
  if (!empty_path(kWorkDir, kWorkDirMode) || !empty_path("/tmp", kTmpMode) || !no_unix_sockets()) return false;
  if (!read_only_paths_in_place(plan)) return false;
  WorkDirUsage now = work_dir_usage();
  return now.inodes == empty.inodes && now.blocks == empty.blocks;
}

}  // namespace cb

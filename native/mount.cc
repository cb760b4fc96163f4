// Mount namespace layer (run by init, still host root, before it enters the
// slot's user namespace — so the mount namespace stays owned by the initial user
// namespace and nothing in the sandbox can ever remount or unmount anything): a
// read-only root assembled on a tmpfs from read-only binds (or, for an image or
// a prepared root, a read-only overlay of its layers under that tmpfs), a fresh /proc with
// sensitive files masked, a minimal /dev, a size- and inode-limited tmpfs for the
// work dir and /tmp, then pivot_root with the old root detached.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "sandbox.h"

namespace cb {

namespace {

// A path inside the staging root, in a caller's buffer.
const char* staged(char (&buf)[512], const char* suffix) {
  char* p = str_append(buf, buf + sizeof buf, kStaging);
  str_append(p, buf + sizeof buf, suffix);
  return buf;
}

// Sets mount flags on a mount and, with `recursive`, on every mount below it (a
// read-only bind of /usr stays read-only all the way down).
bool set_mount_attrs(const Plan& plan, const char* path, uint64_t attrs, bool recursive) {
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = attrs;
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr, sizeof attr) != 0)
    child_fail(plan, Layer::Mount, "mount_setattr", path);
  return true;
}

bool make_private(const Plan& plan) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    child_fail(plan, Layer::Mount, "make-private", "/");
  return true;
}

bool mount_tmpfs(const Plan& plan, const char* path, const char* options) {
  if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
    child_fail(plan, Layer::Mount, "tmpfs", path);
  return true;
}

bool create_dirs(const Plan& plan) {
  for (const std::string& dir : plan.dirs) {
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) child_fail(plan, Layer::Mount, "mkdir", dir.c_str());
  }
  return true;
}

// mkdir -p of a path's parents (the path itself is left alone).
// Paths are all under the staging root, which exists: start below it.
bool make_parents(const Plan& plan, const char* path) {
  static constexpr size_t kStagingLength = std::char_traits<char>::length(kStaging);
  char buf[512];
  str_append(buf, buf + sizeof buf, path);
  for (char* p = buf + kStagingLength + 1; *p != '\0'; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) child_fail(plan, Layer::Mount, "mkdir", buf);
    *p = '/';
  }
  return true;
}

// A path nested in one bound before it is there already, read-only: it is not
// made again (creating a file opens it for writing: EROFS).
bool create_mount_point(const Plan& plan, const Bind& bind) {
  struct stat info;
  if (lstat(bind.target.c_str(), &info) == 0) return true;
  make_parents(plan, bind.target.c_str());
  if (bind.is_dir) {
    if (mkdir(bind.target.c_str(), 0755) != 0 && errno != EEXIST)
      child_fail(plan, Layer::Mount, "mkdir", bind.target.c_str());
    return true;
  }
  int fd = open(bind.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) child_fail(plan, Layer::Mount, "create", bind.target.c_str());
  close(fd);
  return true;
}

// `point_ready`: the mount point was made before the root went read-only.
bool bind_one(const Plan& plan, const Bind& bind, uint64_t attrs, bool point_ready = false) {
  if (!point_ready) create_mount_point(plan, bind);
  if (mount(bind.source.c_str(), bind.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    child_fail(plan, Layer::Mount, "bind", bind.target.c_str());
  return set_mount_attrs(plan, bind.target.c_str(), attrs, true);
}

// Over an image or a prepared root, the mount points were made in its top layer
// (mount_root_layers), except those the work dir's tmpfs now covers.
bool bind_read_only(const Plan& plan) {
  for (const Bind& bind : plan.binds) {
    bool ready = !plan.root_overlay.empty() && !in_work_tmpfs(bind.source);
    bind_one(plan, bind, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, ready);
  }
  return true;
}

bool create_symlinks(const Plan& plan) {
  for (const Symlink& link : plan.symlinks) {
    make_parents(plan, link.path.c_str());
    if (symlink(link.target.c_str(), link.path.c_str()) != 0 && errno != EEXIST)
      child_fail(plan, Layer::Mount, "symlink", link.path.c_str());
  }
  return true;
}

bool write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool write_generated_files(const Plan& plan) {
  for (const GeneratedFile& file : plan.files) {
    int fd = open(file.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) child_fail(plan, Layer::Mount, "create", file.path.c_str());
    if (!write_all(fd, file.content.data(), file.content.size()))
      child_fail(plan, Layer::Mount, "write", file.path.c_str());
    close(fd);
  }
  return true;
}

bool mount_proc(const Plan& plan) {
  char path[512];
  staged(path, "/proc");
  // hidepid=2: the program sees only its own processes, not init (which shares
  // Node's memory, and whose command line is Node's).
  if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0)
    child_fail(plan, Layer::Proc, "mount", path);
  for (const std::string& masked : plan.proc_masked_files) {
    if (access(masked.c_str(), F_OK) != 0) continue;  // not in this kernel's /proc
    if (mount("/dev/null", masked.c_str(), nullptr, MS_BIND, nullptr) != 0)
      child_fail(plan, Layer::Proc, "mask", masked.c_str());
  }
  for (const std::string& masked : plan.proc_masked_dirs) {
    if (access(masked.c_str(), F_OK) != 0) continue;
    if (mount("tmpfs", masked.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,nr_inodes=1") != 0)
      child_fail(plan, Layer::Proc, "mask", masked.c_str());
  }
  char sys[512];
  staged(sys, "/proc/sys");
  if (mount(sys, sys, nullptr, MS_BIND | MS_REC, nullptr) != 0) child_fail(plan, Layer::Proc, "bind", sys);
  return set_mount_attrs(plan, sys, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, true);
}

bool build_dev(const Plan& plan) {
  char dev[512];
  staged(dev, "/dev");
  if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755") != 0)
    child_fail(plan, Layer::Dev, "tmpfs", dev);
  // Only these host device nodes, bound one by one; nothing else is reachable.
  for (const Bind& bind : plan.dev_binds) bind_one(plan, bind, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  const char* links[][2] = {{"/proc/self/fd", "/dev/fd"},
                            {"/proc/self/fd/0", "/dev/stdin"},
                            {"/proc/self/fd/1", "/dev/stdout"},
                            {"/proc/self/fd/2", "/dev/stderr"}};
  for (auto& link : links) {
    char path[512];
    if (symlink(link[0], staged(path, link[1])) != 0) child_fail(plan, Layer::Dev, "symlink", path);
  }
  return set_mount_attrs(plan, dev, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false);
}

// One tmpfs holds both the work dir and /tmp, so one byte and inode limit covers
// everything the program can write.
bool mount_work_dir(const Plan& plan) {
  char box[512], options[160], work[512], tmp[512], inner_tmp[512];
  staged(box, kWorkDir);
  char* p = str_append(options, options + sizeof options, "mode=0755,size=");
  p = str_append_uint(p, options + sizeof options, plan.tmpfs_bytes);
  p = str_append(p, options + sizeof options, ",nr_inodes=");
  str_append_uint(p, options + sizeof options, plan.tmpfs_inodes);
  mount_tmpfs(plan, box, options);

  str_append(str_append(work, work + sizeof work, box), work + sizeof work, "/work");
  str_append(str_append(inner_tmp, inner_tmp + sizeof inner_tmp, box), inner_tmp + sizeof inner_tmp, "/tmp");
  if (mkdir(work, kWorkDirMode) != 0 || chown(work, plan.program_host_uid, plan.program_host_gid) != 0)
    child_fail(plan, Layer::Workdir, "mkdir", work);
  if (mkdir(inner_tmp, kTmpMode) != 0 || chown(inner_tmp, plan.program_host_uid, plan.program_host_gid) != 0)
    child_fail(plan, Layer::Workdir, "mkdir", inner_tmp);
  staged(tmp, "/tmp");
  if (mount(inner_tmp, tmp, nullptr, MS_BIND, nullptr) != 0) child_fail(plan, Layer::Workdir, "bind", tmp);
  // Stacked on the tmpfs's own root, which then stays hidden below it.
  if (mount(work, box, nullptr, MS_BIND, nullptr) != 0) child_fail(plan, Layer::Workdir, "bind", box);
  return true;
}

// An image or a prepared root: what the staging tmpfs holds so far (generated
// files, the directories /proc, /dev, /box and /tmp mount on, the mount points
// of binds, symlinks) becomes the top layer of a read-only overlay mounted over
// the staging tmpfs itself, its other layers the root's host dirs. overlayfs
// took its layers when mounted, so the tmpfs it hides stays its top layer.
// Whiteouts in the layers (character devices 0/0, opaque directories) hide what
// a lower layer holds. Nothing in it is writable; the work dir goes on top.
bool mount_root_layers(const Plan& plan) {
  if (plan.root_overlay.empty()) return true;
  for (const Bind& bind : plan.binds) create_mount_point(plan, bind);
  create_symlinks(plan);
  if (mount("overlay", kStaging, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, plan.root_overlay.c_str()) != 0)
    child_fail(plan, Layer::Mount, "overlay", kStaging);
  return true;
}

// pivot_root(".", ".") stacks the old root on top of the new one; detaching it
// leaves no path back to the host tree.
bool pivot_into_root(const Plan& plan) {
  if (chdir(kStaging) != 0) child_fail(plan, Layer::Mount, "chdir", kStaging);
  if (syscall(SYS_pivot_root, ".", ".") != 0) child_fail(plan, Layer::Mount, "pivot_root", kStaging);
  if (umount2(".", MNT_DETACH) != 0) child_fail(plan, Layer::Mount, "umount", "old root");
  if (chdir("/") != 0) child_fail(plan, Layer::Mount, "chdir", "/");
  set_mount_attrs(plan, "/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false);
  if (chdir(kWorkDir) != 0) child_fail(plan, Layer::Mount, "chdir", kWorkDir);
  return true;
}

}  // namespace

bool mount_build_root(const Plan& plan) {
  umask(0);
  make_private(plan);
  char root[512];
  mount_tmpfs(plan, staged(root, ""), "size=1m,nr_inodes=4096,mode=0755");
  create_dirs(plan);
  write_generated_files(plan);
  mount_root_layers(plan);
  // The work dir and /tmp first: a read-only path under /tmp then lands on top.
  mount_work_dir(plan);
  if (plan.root_overlay.empty()) create_symlinks(plan);
  bind_read_only(plan);
  mount_proc(plan);
  build_dev(plan);
  return pivot_into_root(plan);
}

}  // namespace cb

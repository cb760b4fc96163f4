// The launch plan shared by the supervisor (which builds it before clone) and the
// child (which only reads it). Everything the child needs is resolved beforehand:
// after clone the child shares the Node address space (CLONE_VM) and may only make
// async-signal-safe calls — no allocation, no locks, no C++ runtime.
#pragma once

#include <linux/filter.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace cb {

// Which layer and step failed, with errno: the child writes one of these to the
// error pipe and exits; the supervisor turns it into a message.
enum class Layer : uint8_t { None, Userns, Mount, Proc, Dev, Workdir, Uts, Cgroup, Caps, Rlimit, Landlock, Seccomp, Fds, Exec, Clone, Net, Ipc };

struct Failure {
  Layer layer;
  int err;
  char what[120];  // step and path, NUL-terminated
};

// Init reports this once the program has exited.
struct InitReport {
  int wait_status;
};

// Init's word after a report (on control_fd): serve another run. End of file: exit.
constexpr char kNextRun = 'N';

// Uids inside the user namespace. Init builds the sandbox as host root, then
// enters the slot's user namespace as 0 (mapped to one host uid); the program runs
// as 1000 (mapped to another). Distinct host uids stop the program from ptracing
// or signalling its init, which shares the supervisor's memory.
constexpr uid_t kInitUid = 0;
constexpr uid_t kProgramUid = 1000;
constexpr const char* kWorkDir = "/box";
constexpr mode_t kWorkDirMode = 0755, kTmpMode = 01777;

// A host path inside the work dir or /tmp: both are the program's tmpfs, mounted
// over the root, so what is bound there is made and reset with it.
inline bool in_work_tmpfs(const std::string& path) {
  for (const char* dir : {kWorkDir, "/tmp"}) {
    size_t length = std::char_traits<char>::length(dir);
    if (path.compare(0, length, dir) == 0 && path.size() > length && path[length] == '/') return true;
  }
  return false;
}
// Where the new root is assembled inside the private mount namespace: a directory
// of ours, so the tmpfs mounted on it shadows no host path a spec may name.
constexpr const char* kStaging = "/run/cellblock/root";

// A read-only bind of a host path (init builds the root while still host root,
// so paths under a 0700 /root, e.g. /root/.rustup, can be bound too).
struct Bind {
  std::string source;  // host path
  std::string target;  // absolute path inside staging
  bool is_dir;
};

struct Symlink {
  std::string target;  // what the link points to
  std::string path;    // absolute path inside staging
};

struct GeneratedFile {
  std::string path;  // inside staging
  std::string content;
};

struct Rlimit {
  int resource;
  rlim_t value;
};

struct LandlockRule {
  std::string path;  // inside the new root
  uint64_t access;
};

// A read-only path as it was when the sandbox was built: a run is not given a
// sandbox in which it has since been replaced (a new inode at the path).
struct HostPathId {
  std::string path;
  dev_t dev;
  ino_t ino;
};

struct Plan {
  // fds the child keeps (all others are closed at its start)
  std::vector<int> cgroup_procs_fds;  // init joins the run's cgroups through these
  int userns_fd = -1;                 // the slot's user namespace, maps already written
  int netns_fd = -1;                  // the slot's empty network namespace
  int error_fd = -1;   // child reports a Failure here
  int status_fd = -1;  // init reports the program's wait status and its own CPU
  int notify_sock = -1;  // the program sends its seccomp listener here
  int control_fd = -1;   // after each report init waits here for the supervisor's word
  int lifeline_fd = -1;  // read end of a pipe only the supervisor writes to: EOF means it is gone
  int go_sock = -1;      // the program waits here for its run: its stdin, stdout and stderr arrive with it
  std::vector<int> keep_fds;  // sorted: all of the above

  // mount
  uint64_t tmpfs_bytes = 0;
  uint64_t tmpfs_inodes = 0;
  std::vector<std::string> dirs;  // created inside staging, in order
  std::vector<Bind> binds;
  std::vector<Symlink> symlinks;
  std::vector<HostPathId> read_only_ids;  // every read-only path, as lstat saw it
  std::vector<GeneratedFile> files;
  std::vector<std::string> proc_masked_files;  // /dev/null bound over these
  std::vector<std::string> proc_masked_dirs;   // an empty read-only tmpfs over these
  std::vector<Bind> dev_binds;                 // host device nodes
  // An image or a prepared root: overlayfs options stacking the host dirs it is
  // made of under the staging tmpfs (see mount.cc); empty: the root is the tmpfs
  // with host binds.
  std::string root_overlay;
  uid_t program_host_uid = 0;                  // owns the work dir and copied files
  gid_t program_host_gid = 0;

  // program: filled in when the run is given, before the go message (init reads
  // them only after it)
  std::vector<std::string> exec_candidates;  // full paths to try, in order
  std::vector<std::string> argv, envp;
  std::vector<char*> argv_ptrs, envp_ptrs;  // NULL-terminated views of the above
  std::vector<Rlimit> rlimits;
  std::string hostname = "cellblock";
  int last_capability = 0;  // the kernel's last capability number, read once

  // landlock (abi 0: off)
  int landlock_abi = 0;
  std::vector<LandlockRule> landlock_rules;

  // seccomp: a precompiled program, loaded with a user-notification listener
  // (len 0: off, tests only)
  sock_fprog filter{};
};

// What init hands the program it clones: the plan, and the Landlock ruleset init
// built in the new root.
struct ProgramStart {
  const Plan* plan;
  int landlock_ruleset;  // -1: Landlock off
};

// Child side (after clone; async-signal-safe only).
int child_init_main(void* plan);   // pid 1 of the new pid namespace
int child_exec_main(void* start);  // the program, cloned by init with a ProgramStart
[[noreturn]] void child_fail(const Plan& plan, Layer layer, const char* step, const char* path);

// Layers run by the child.
bool mount_build_root(const Plan& plan);
bool uts_set_names(const Plan& plan);
bool caps_bound_for_good(const Plan& plan);  // init, once: bounding set and securebits
bool caps_drop_all(const Plan& plan);        // each program: uid, capability sets, no_new_privs
bool rlimits_apply(const Plan& plan);
int landlock_build_ruleset(const Plan& plan);  // by init, in the new root: the fd, or -1 when off
bool landlock_restrict(const Plan& plan, int ruleset);
int seccomp_load(const Plan& plan);  // returns the listener fd, or -1
bool fds_close_except(const int* keep, size_t count);
bool fds_install_stdio(const Plan& plan, const int (&stdio)[3]);  // after the go message, all ≥ 3
// One byte carrying up to three fds. fds_receive returns how many arrived, or -1
// (0 bytes: the other end closed).
bool fds_send(int sock, const int* fds, size_t count);
int fds_receive(int sock, int* fds, size_t max);

// What the work dir's tmpfs holds: as just built, and again after each reset.
struct WorkDirUsage {
  uint64_t inodes = 0, blocks = 0;
};
WorkDirUsage work_dir_usage();
// By init between runs: empties the work dir and /tmp and checks that nothing of
// the run is left (files, unix sockets). False: the sandbox is not fit to reuse.
bool reset_for_next_run(const Plan& plan, const WorkDirUsage& empty);
// By init once, before the first run: lists every directory under the work dir
// and /tmp (those leading to read-only paths), which fixes their access time
// (relatime moves it no more while their mtime is older): the first run to list
// them would otherwise set one of its choosing for every run after it.
void settle_built_tree();

// Small async-signal-safe string helpers for building paths and messages.
char* str_append(char* dst, const char* end, const char* src);
char* str_append_uint(char* dst, const char* end, unsigned long long value);

}  // namespace cb

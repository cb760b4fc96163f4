// One run, from the supervisor's side: what to run (JobSpec, already validated by
// the TypeScript layer) and what happened (JobResult).
#pragma once

#include <stdint.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collect.h"
#include "seccomp.h"

namespace cb {

struct CopySpec {
  std::string source;   // host path (when !from_memory)
  std::string content;  // bytes (when from_memory)
  bool from_memory = false;
  std::string dest;  // relative to the work dir, validated: no "..", not absolute
  uint32_t mode = 0644;
};

enum class StdinKind { None, File, Data, Fd };

struct JobSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;        // "KEY=VALUE", the whole environment
  std::vector<std::string> path_dirs;  // where a bare argv[0] is looked up
  std::vector<std::string> ro_paths;   // host paths, bound read-only at the same path
  std::vector<CopySpec> copies;
  StdinKind stdin_kind = StdinKind::None;
  std::string stdin_path, stdin_data;
  int stdin_fd = -1, stdout_fd = -1;  // pipes to another sandbox (interactors); owned by the spec
  bool stdout_given = false;          // stdout_fd was asked for (even if it could not be duplicated)
  // stdout and stderr as the program writes them (1, 2; up to the cap), on the
  // sandbox's thread, besides being kept for the result
  std::function<void(int stream, const char* data, size_t size)> on_output;
  bool truncate_output = false;       // past the cap: keep the prefix, do not stop the run
  int cancel_fd = -1;                 // an eventfd: readable when the caller cancels the run
  std::vector<std::string> collect;   // work dir files to bring back
  uint64_t collect_bytes = 64ULL << 20;
  uint64_t collect_files = 10000;
  std::vector<std::string> root_layers;  // host dirs stacked read-only as the root, top first; empty: host binds

  uint64_t cpu_ms = 1000, wall_ms = 3000;
  uint64_t memory_bytes = 256ULL << 20;
  uint64_t pids = 64;
  uint64_t output_bytes = 64ULL << 20;  // stdout and stderr, each
  uint64_t file_bytes = 64ULL << 20;
  uint64_t open_files = 64;
  uint64_t stack_bytes = 8ULL << 20;
  uint64_t tmpfs_bytes = 64ULL << 20;
  uint64_t tmpfs_inodes = 4096;
  std::string cpus;

  seccomp::Policy policy;
  int landlock_abi = 0;  // 0: off (only with the operator's explicit consent)

  // Test-only: layers turned off one at a time, to show another layer still
  // holds (the TypeScript layer refuses these outside tests).
  bool seccomp_off = false;
  bool network_off = false;           // stay in the host's network namespace
  std::vector<std::string> exposed;   // host paths bound read-only without a Landlock rule
};

struct JobResult {
  std::string status = "internal_error";
  int exit_code = -1;
  int signal = 0;
  double cpu_ms = 0, wall_ms = 0;
  uint64_t memory_kb = 0;
  std::string out, err;
  std::string syscall;
  std::string error_code, error_message;
  std::vector<CollectedFile> files;
  std::vector<RefusedFile> refused;
};

// A sandbox built before its run is known (init waits inside it), serving one
// run at a time, reset between them. Built, run and dropped on one thread: init
// dies with the thread that cloned it.
struct Sandbox;
struct SandboxDeleter {
  void operator()(Sandbox* sandbox) const;
};
using SandboxPtr = std::unique_ptr<Sandbox, SandboxDeleter>;

// What decides how a sandbox is built: a spec may run in any sandbox built from
// a spec with the same key.
std::string sandbox_key(const JobSpec& spec);

// Returns once init waits in the built root. Never null: a sandbox that could
// not be built says why when it is started.
SandboxPtr sandbox_build(const JobSpec& spec);

// Copies the run's files in, writes its limits and sends init the go message:
// the program starts. False when it cannot (`result` then says why). Cheap enough
// for the caller's thread when the files are small (sandbox_quick_to_start).
bool sandbox_start(Sandbox& sandbox, const JobSpec& spec, JobResult& result);
bool sandbox_quick_to_start(const JobSpec& spec);

// False when a read-only path has been replaced on the host since the sandbox
// was built: the run needs a sandbox built now.
bool sandbox_current(const Sandbox& sandbox);

// Watches a started run to its end and fills in `result`.
void sandbox_watch(Sandbox& sandbox, const JobSpec& spec, JobResult& result);

// After a run: makes the sandbox as new for another (native/reset.cc says what
// that takes). False when it cannot be: it is then dropped, and a new one built.
bool sandbox_reset(Sandbox& sandbox);

}  // namespace cb

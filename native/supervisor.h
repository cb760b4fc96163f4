// One run, from the supervisor's side: what to run (JobSpec, already validated by
// the TypeScript layer) and what happened (JobResult).
#pragma once

#include <stdint.h>

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
  int stderr_fd = -1;                 // a pipe the caller reads as the program writes; owned by the spec
  bool stderr_given = false;
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

JobResult run_job(const JobSpec& spec);

}  // namespace cb

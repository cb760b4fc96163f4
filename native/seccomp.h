// The seccomp policy as the supervisor receives it (already resolved from the
// policy data file by the TypeScript loader), and its compiled form.
#pragma once

#include <linux/filter.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

namespace cb::seccomp {

enum class Action : uint8_t { Allow, Errno, Violation };

struct ArgCheck {
  unsigned index;
  std::string op;  // eq, ne, lt, le, gt, ge, masked_eq
  uint64_t value;
  uint64_t mask;
};

struct Rule {
  std::string syscall;
  Action action;
  int errno_value;
  std::vector<ArgCheck> args;
};

struct Policy {
  std::string key;  // identifies the policy for the compile cache
  Action default_action;
  int default_errno;
  std::vector<Rule> rules;
};

using Program = std::vector<sock_filter>;

// Whether a policy with this key is compiled already (its rules need no parsing).
bool is_compiled(const std::string& key);

// Compiles (or returns the cached) BPF program; on failure returns null and sets
// `error`.
std::shared_ptr<const Program> compile(const Policy& policy, std::string& error);

// "i386:getuid", "openat", …: the name of a syscall a notification reported.
std::string syscall_name(uint32_t arch, int nr);

// Receives one notification from a listener: false when none could be read.
bool receive_notification(int listener, uint32_t& arch, int& nr);

}  // namespace cb::seccomp

// Landlock layer: a second wall behind the mount namespace. Files: read and
// execute the read-only tree, write only the work dir and /tmp, read and write the
// few device nodes. Network: TCP bind and connect refused (behind the empty network
// namespace). Scoping: no signals and no abstract unix sockets across the sandbox
// boundary. Init builds the ruleset once the root is in place (its paths are opened
// there, before the run is given); the program enforces it after no_new_privs.
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

namespace cb {

namespace landlock {

int abi_version() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

}  // namespace landlock

namespace {

int create_ruleset(const Plan& plan) {
  landlock::RulesetAttr attr = {landlock::fs_rights(plan.landlock_abi), 0, 0};
  size_t size = sizeof(uint64_t);
  if (plan.landlock_abi >= 4) {
    attr.handled_access_net = landlock::kNetBindTcp | landlock::kNetConnectTcp;
    size = 2 * sizeof(uint64_t);
  }
  if (plan.landlock_abi >= 6) {
    attr.scoped = landlock::kScopeAbstractUnixSocket | landlock::kScopeSignal;
    size = sizeof attr;
  }
  long fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0U);
  if (fd < 0) child_fail(plan, Layer::Landlock, "create_ruleset", nullptr);
  return static_cast<int>(fd);
}

bool add_path_rule(const Plan& plan, int ruleset, const LandlockRule& rule) {
  int fd = open(rule.path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;  // an optional path (e.g. a masked /proc file)
    child_fail(plan, Layer::Landlock, "open", rule.path.c_str());
  }
  landlock::PathBeneathAttr attr = {rule.access & landlock::fs_rights(plan.landlock_abi), fd};
  if (syscall(SYS_landlock_add_rule, ruleset, landlock::kRulePathBeneath, &attr, 0U) != 0)
    child_fail(plan, Layer::Landlock, "add_rule", rule.path.c_str());
  close(fd);
  return true;
}

}  // namespace

int landlock_build_ruleset(const Plan& plan) {
  if (plan.landlock_abi <= 0) return -1;
  int ruleset = create_ruleset(plan);
  for (const LandlockRule& rule : plan.landlock_rules) add_path_rule(plan, ruleset, rule);
  return ruleset;
}

bool landlock_restrict(const Plan& plan, int ruleset) {
  if (ruleset < 0) return true;
  if (syscall(SYS_landlock_restrict_self, ruleset, 0U) != 0)
    child_fail(plan, Layer::Landlock, "restrict_self", nullptr);
  close(ruleset);
  return true;
}

}  // namespace cb

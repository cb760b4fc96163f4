// rlimit layer (run by the program before exec): per-process ceilings the kernel
// enforces on its own — CPU seconds, file size, open files, stack, no core dumps,
// no locked memory. Tree-wide limits (memory, pids, total CPU) are the cgroup's.
#include <sys/resource.h>

#include "sandbox.h"

namespace cb {

bool rlimits_apply(const Plan& plan) {
  for (const Rlimit& limit : plan.rlimits) {
    struct rlimit value = {limit.value, limit.value};
    if (setrlimit(limit.resource, &value) != 0) child_fail(plan, Layer::Rlimit, "setrlimit", nullptr);
  }
  return true;
}

}  // namespace cb

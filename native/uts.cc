// UTS namespace layer: the sandbox's own host and domain name, so the host's
// never shows through uname(2).
#include <unistd.h>

#include "sandbox.h"

namespace cb {

bool uts_set_names(const Plan& plan) {
  if (sethostname(plan.hostname.data(), plan.hostname.size()) != 0)
    child_fail(plan, Layer::Uts, "sethostname", plan.hostname.c_str());
  if (setdomainname(plan.hostname.data(), plan.hostname.size()) != 0)
    child_fail(plan, Layer::Uts, "setdomainname", plan.hostname.c_str());
  return true;
}

}  // namespace cb

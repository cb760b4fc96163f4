// Building the child's Plan from a JobSpec (supervisor side, before clone).
#pragma once

#include <string>

#include "sandbox.h"
#include "supervisor.h"

namespace cb {

// Fills everything but fds and the seccomp program; false with `error` when the
// spec names something that does not exist.
bool build_plan(const JobSpec& spec, Plan& plan, std::string& error);

}  // namespace cb

// Building the child's Plan from a JobSpec (supervisor side).
#pragma once

#include <string>

#include "sandbox.h"
#include "supervisor.h"

namespace cb {

// The sandbox: root, mounts, Landlock rules (what sandbox_layout_key covers).
// False with `error` when the spec names a path that does not exist.
bool plan_sandbox(const JobSpec& spec, Plan& plan, std::string& error);

// The run's program: argv, environment, rlimits (read by the program waiting in
// the sandbox once it is given the go message).
void plan_program(const JobSpec& spec, Plan& plan);

}  // namespace cb

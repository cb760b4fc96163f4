// Sandboxes built before their runs: a run takes one that is ready (init parked
// inside a built root) instead of building its own, and the pool builds the next
// one off the run's path. Each sandbox still serves exactly one run.
#pragma once

#include <functional>

#include "supervisor.h"

namespace cb::warm {

// Called on the sandbox's thread with the run's result; its spec must live until then.
using Done = std::function<void(JobResult&)>;

// Runs `spec` in a sandbox built ahead for its key, or in one built now.
void launch(const JobSpec& spec, Done done);

// Drops every sandbox that waits for a run and returns once they, and those whose
// runs have answered, are gone (processes reaped, cgroups removed). Runs in flight
// are not touched.
void release();

}  // namespace cb::warm

// Sandboxes built before their runs: a run takes one that is ready (its program
// waiting inside a built root, behind every wall) instead of building its own.
// After the run the sandbox is reset for another (or rebuilt, when it cannot be
// made as new), off the run's path.
#pragma once

#include <stdint.h>

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

// Whether a sandbox may serve another run once reset (the default), or is torn
// down after its one run (the operator's choice: no trace of one run, not even
// the tmpfs's inode numbering, can reach another).
void set_reuse(bool reuse);

// Since the process started: sandboxes built, and runs given a sandbox reset
// after an earlier run.
struct Stats {
  uint64_t builds, reuses;
};
Stats stats();

}  // namespace cb::warm

// Scheduling of the work around runs. Building a sandbox ahead, tearing one down
// and keeping network namespaces ready all happen while other runs go; at normal
// priority they preempt a running program and delay its wake-ups by hundreds of
// microseconds on a small machine. They run as SCHED_IDLE instead: the scheduler
// then treats their CPU as free, and a run's processes and threads take it at once.
#pragma once

namespace cb::priority {

// The calling thread (and what it clones from now on) yields to everything else,
// where it can come back (foreground); otherwise nothing changes.
void background();

// Back to normal scheduling (a run's path). A raw system call: async-signal-safe,
// for a child sharing Node's memory too, while it still has the privilege.
void foreground();

// For a child whose part of the run is over and which only exits now (its
// namespaces' teardown runs in its exit): yields for good. Async-signal-safe.
void background_for_good();

}  // namespace cb::priority

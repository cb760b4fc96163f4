// pid namespace layer, supervisor side (the namespace itself is made with init:
// supervisor.cc's clone flags).
#pragma once

namespace cb {

// A sandbox serves many runs, and pids count on across them: a program that is
// pid 57 would learn how many processes ran before it in its sandbox. Before a
// run after the first, the namespace's counter (ns_last_pid) is set back, so
// every run's program is pid 2. `init_pidfd`: a pidfd of the sandbox's init.
// False when it could not be (the sandbox is then not reused).
bool pidns_restart_numbering(int init_pidfd);

// False once this thread could not leave a sandbox's pid namespace again: what it
// cloned from then on would be born inside, so it must build nothing more.
bool pidns_thread_in_place();

}  // namespace cb

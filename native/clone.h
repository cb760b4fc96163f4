// Cloning a child that shares Node's memory (CLONE_VM), safely.
#pragma once

#include <sys/types.h>

#include <functional>
#include <shared_mutex>
#include <string>

namespace cb {

// Clones with every signal blocked, so no Node handler can ever run in the child
// (it inherits copies of them); the child resets or keeps them blocked itself.
// Supplementary groups are dropped first, for this thread only.
pid_t clone_quiet(int (*fn)(void*), void* stack_top, int flags, void* arg);

// Held shared while a file that will be executed is open for writing, and
// exclusively by clone_quiet: a child cloned meanwhile would inherit the write
// fd until it closes its fds, and an execve of the file in that window fails
// with ETXTBSY (Go's syscall.ForkLock, for the same reason).
std::shared_mutex& clone_lock();

// Creates a namespace (clone flag CLONE_NEW*, /proc name "user", "net"…) held by
// a short-lived child; `configure` runs while the child lives (e.g. to write uid
// maps). Returns an fd on the namespace, or -1 with `error`.
int hold_new_namespace(int clone_flag, const char* name, const std::function<bool(pid_t)>& configure,
                       std::string& error);

}  // namespace cb

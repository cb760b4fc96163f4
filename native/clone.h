// Cloning a child that shares Node's memory (CLONE_VM), safely.
#pragma once

#include <sys/types.h>

namespace cb {

// Clones with every signal blocked, so no Node handler can ever run in the child
// (it inherits copies of them); the child resets or keeps them blocked itself.
// Supplementary groups are dropped first, for this thread only.
pid_t clone_quiet(int (*fn)(void*), void* stack_top, int flags, void* arg);

}  // namespace cb

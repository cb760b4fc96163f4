// Network namespace layer (supervisor side).
#pragma once

#include <string>

namespace cb {

// A new, empty network namespace (no interface up, no route), owned by the
// initial user namespace so nothing in the sandbox can configure it, never used
// by another run: an fd the caller closes after the run, or -1 with `error`.
int netns_take(std::string& error);

}  // namespace cb

// Network namespace layer. Creating a network namespace costs ~0.35 ms here and
// its teardown more, so each slot keeps one and every run of the slot enters it
// (init, as host root, with setns). Sharing it between the slot's runs — one at a
// time — leaks nothing: it holds no state that outlives the processes that made
// it (sockets die with them; addresses, routes and filters need CAP_NET_ADMIN over
// the initial user namespace; netlink sockets are refused by seccomp).
#include "netns.h"

#include <sched.h>
#include <sys/types.h>

#include "clone.h"

namespace cb {

int netns_create(std::string& error) {
  return hold_new_namespace(CLONE_NEWNET, "net", [](pid_t) { return true; }, error);
}

}  // namespace cb

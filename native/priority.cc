#include "priority.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

namespace cb::priority {

namespace {

int set_policy(int policy) {
  struct sched_param param = {};
  return static_cast<int>(syscall(SYS_sched_setscheduler, 0, policy, &param));
}

// Leaving SCHED_IDLE needs CAP_SYS_NICE (or a generous RLIMIT_NICE): tried once,
// on a thread of its own, so no thread of ours is ever stuck yielding.
bool can_come_back() {
  static const bool able = [] {
    bool ok = false;
    std::thread([&ok] { ok = set_policy(SCHED_IDLE) == 0 && set_policy(SCHED_OTHER) == 0; }).join();
    return ok;
  }();
  return able;
}

}  // namespace

void background() {
  if (can_come_back()) set_policy(SCHED_IDLE);
}

void foreground() { set_policy(SCHED_OTHER); }

void background_for_good() { set_policy(SCHED_IDLE); }

}  // namespace cb::priority

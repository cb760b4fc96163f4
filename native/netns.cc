// Network namespace layer. Every run gets a network namespace of its own, never
// used before: one shared by a slot's runs let a unix socket kept alive in
// flight (an SCM_RIGHTS cycle) outlive its run and show in the next one. Creating
// a network namespace costs ~0.35 ms here, so a background thread keeps a few
// ready, off every run's path; a run takes one (or makes one itself when none is
// left) and closes it after. Teardown is the kernel's, asynchronous.
#include "netns.h"

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "clone.h"
#include "priority.h"

namespace cb {

namespace {

constexpr size_t kReady = 4;

// Never destroyed: the refill thread waits on it for the life of the process, and
// destroying a condition variable with a waiter at exit would hang the exit.
struct Pool {
  std::mutex mutex;
  std::condition_variable low;
  std::deque<int> ready;
  bool refilling = false;
};
Pool& pool = *new Pool;

int create(std::string& error) {
  return hold_new_namespace(CLONE_NEWNET, "net", [](pid_t) { return true; }, error);
}

void refill_forever() {
  pthread_setname_np(pthread_self(), "cb-netns");
  priority::background();
  std::unique_lock<std::mutex> lock(pool.mutex);
  for (;;) {
    pool.low.wait(lock, [] { return pool.ready.size() < kReady; });
    lock.unlock();
    std::string ignored;
    int fd = create(ignored);
    lock.lock();
    if (fd >= 0) pool.ready.push_back(fd);
    else pool.low.wait_for(lock, std::chrono::seconds(1));  // try again later
  }
}

}  // namespace

int netns_take(std::string& error) {
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (!pool.refilling) {
      pool.refilling = true;
      std::thread(refill_forever).detach();
    }
    if (!pool.ready.empty()) {
      int fd = pool.ready.front();
      pool.ready.pop_front();
      pool.low.notify_one();
      return fd;
    }
  }
  pool.low.notify_one();
  return create(error);
}

}  // namespace cb

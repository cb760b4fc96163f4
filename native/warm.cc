// The pool of built sandboxes. A sandbox is a thread: it builds (sandbox_build),
// waits for a run, runs it, and then — reset (sandbox_reset), or rebuilt when it
// cannot be — waits for the next, until it is not wanted any more and is torn
// down; all on one thread, because init dies with the thread that cloned it. A
// key (sandbox_key) used a second time is kept warm: two sandboxes more than the
// machine has CPUs, counting those running, up to a total bound of waiting ones;
// the least recently used keys give way, and a key unused for a few seconds gives
// its waiting sandboxes up. What reuse saves is the building itself: a run's CPU
// cost and its wait.
#include "warm.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "priority.h"

namespace cb::warm {

namespace {

constexpr size_t kMaxWaiting = 8;
constexpr size_t kMaxKeys = 64;  // keys remembered (their use counts)
// A key not used for this long gives its sandboxes up: an idle worker holds no
// processes, cgroups or slots for long.
constexpr auto kIdle = std::chrono::seconds(3);

// Between a sandbox's thread and whoever gives it its run.
struct Handoff {
  std::mutex mutex;
  std::condition_variable changed;
  Sandbox* built = nullptr;  // once built: the giver may start the run itself
  const JobSpec* spec = nullptr;
  Done done;
  bool dropped = false;
  bool started = false;  // the giver started it (start_ok, result)
  bool start_ok = false;
  JobResult result;
};

struct Key {
  unsigned uses = 0;
  unsigned in_use = 0;  // running a run, or answered and not yet back: they come back
  std::chrono::steady_clock::time_point last_used;
  std::deque<std::shared_ptr<Handoff>> waiting;  // oldest first
};

// Never destroyed: threads may still use it while the process exits.
struct Pool {
  std::mutex mutex;
  std::condition_variable gone;  // a sandbox is torn down
  std::map<std::string, Key> keys;
  std::list<std::string> recent;  // most recently used key first
  size_t waiting = 0;
  size_t tearing_down = 0;  // dropped, or run and answered, and not yet torn down or back
  unsigned releasing = 0;   // release() calls under way: nothing comes back meanwhile
  bool expiring = false;    // the thread that drops idle keys' sandboxes is running
  std::atomic<uint64_t> builds{0}, reuses{0};
  std::atomic<bool> reuse{true};
};
Pool& pool = *new Pool;

size_t per_key() {
  static const size_t cpus = std::clamp<long>(sysconf(_SC_NPROCESSORS_ONLN), 1, 4);
  return cpus;
}

// Only what building needs (and the limits, written ahead in the likely case the
// run has the same): a spec may carry megabytes of files and stdin.
JobSpec layout_of(const JobSpec& spec) {
  JobSpec layout;
  layout.ro_paths = spec.ro_paths;
  layout.exposed = spec.exposed;
  layout.root_layers = spec.root_layers;
  layout.tmpfs_bytes = spec.tmpfs_bytes;
  layout.tmpfs_inodes = spec.tmpfs_inodes;
  layout.cpus = spec.cpus;
  layout.landlock_abi = spec.landlock_abi;
  layout.network_off = spec.network_off;
  layout.seccomp_off = spec.seccomp_off;
  layout.policy = spec.policy;
  layout.memory_bytes = spec.memory_bytes;
  layout.pids = spec.pids;
  return layout;
}

void torn_down(SandboxPtr& sandbox) {
  priority::background();
  sandbox.reset();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.tearing_down--;
  pool.gone.notify_all();
}

void keep_warm(const std::string& key, const JobSpec& spec);
std::shared_ptr<Handoff> come_back(const std::string& key);

// Whether a run waits for the sandbox being built.
enum class For { Later, WaitingRun };

// Built ahead, while other runs go: yielding to them; built for a run that waits,
// at the run's priority. Runs are watched at normal priority.
SandboxPtr build(const JobSpec& layout, For wanted) {
  if (wanted == For::Later) priority::background();
  SandboxPtr sandbox = sandbox_build(layout);
  pool.builds++;
  priority::foreground();
  return sandbox;
}

void sandbox_thread(JobSpec layout, std::string key, std::shared_ptr<Handoff> handoff, For wanted) {
  pthread_setname_np(pthread_self(), "cb-sandbox");
  SandboxPtr sandbox = build(layout, wanted);
  while (handoff != nullptr) {
    std::unique_lock<std::mutex> lock(handoff->mutex);
    handoff->built = sandbox.get();
    handoff->changed.wait(lock, [&] { return handoff->spec != nullptr || handoff->dropped; });
    if (handoff->spec == nullptr) break;
    const JobSpec& spec = *handoff->spec;
    Done done = std::move(handoff->done);
    JobResult result = std::move(handoff->result);
    bool started_by_giver = handoff->started, start_ok = handoff->start_ok;
    lock.unlock();
    // Given while still being built or reset, it may hold a read-only path as it
    // was before the run was given: then the run gets one built now.
    if (!started_by_giver && !sandbox_current(*sandbox)) {
      sandbox.reset();
      sandbox = build(layout, For::WaitingRun);
    }
    bool started = started_by_giver ? start_ok : sandbox_start(*sandbox, spec, result);
    {
      // More sandboxes of this key are built while this run goes: off its path.
      std::lock_guard<std::mutex> pool_lock(pool.mutex);
      keep_warm(key, layout);
    }
    if (started) sandbox_watch(*sandbox, spec, result);
    {
      std::lock_guard<std::mutex> pool_lock(pool.mutex);
      pool.tearing_down++;
    }
    done(result);
    // Made ready for the next run after the result is on its way: off the run's path.
    priority::background();
    handoff = come_back(key);
    if (handoff == nullptr) break;
    // (Whether its read-only paths are still the host's is checked when it is
    // given a run, once: launch() or above.)
    if (sandbox_reset(*sandbox)) {
      pool.reuses++;
      priority::foreground();
    } else {
      sandbox.reset();
      sandbox = build(layout, For::Later);
    }
  }
  torn_down(sandbox);
}

std::shared_ptr<Handoff> start(const std::string& key, const JobSpec& spec, For wanted) {
  auto handoff = std::make_shared<Handoff>();
  std::thread(sandbox_thread, layout_of(spec), key, handoff, wanted).detach();
  return handoff;
}

// A sandbox no longer waiting (the caller took it off its key's list) goes.
void drop(const std::shared_ptr<Handoff>& handoff) {  // pool.mutex held
  std::lock_guard<std::mutex> lock(handoff->mutex);
  handoff->dropped = true;
  handoff->changed.notify_one();
  pool.tearing_down++;
}

// Every sandbox waiting for `entry` goes, and its use count starts again.
void give_up(Key& entry) {  // pool.mutex held
  for (auto& handoff : entry.waiting) drop(handoff);
  pool.waiting -= entry.waiting.size();
  entry.waiting.clear();
  entry.uses = 0;
}

// Room for one more waiting sandbox: the least recently used other key holding
// two or more gives one up. Never down to none: keys taking turns beyond the
// bound would otherwise build one sandbox per sandbox kept, not per run.
bool make_room(const std::string& key) {  // pool.mutex held
  if (pool.waiting < kMaxWaiting) return true;
  for (auto it = pool.recent.rbegin(); it != pool.recent.rend(); ++it) {
    Key& other = pool.keys[*it];
    if (*it == key || other.waiting.size() < 2) continue;
    drop(other.waiting.front());
    other.waiting.pop_front();
    pool.waiting--;
    return true;
  }
  return false;
}

// Keys with no sandbox are forgotten, least recently used first.
void forget_old_keys() {  // pool.mutex held
  for (auto it = pool.recent.end(); pool.keys.size() > kMaxKeys && it != pool.recent.begin();) {
    --it;
    const Key& entry = pool.keys[*it];
    if (!entry.waiting.empty() || entry.in_use > 0) continue;
    pool.keys.erase(*it);
    it = pool.recent.erase(it);
  }
}

// Takes a waiting sandbox for `key`, or nullptr; marks the key used, by a run
// whose sandbox (taken or built now) comes back after it.
std::shared_ptr<Handoff> take(const std::string& key) {  // pool.mutex held
  Key& entry = pool.keys[key];
  entry.uses++;
  entry.in_use++;
  entry.last_used = std::chrono::steady_clock::now();
  pool.recent.remove(key);
  pool.recent.push_front(key);
  forget_old_keys();
  if (entry.waiting.empty()) return nullptr;
  auto handoff = entry.waiting.front();
  entry.waiting.pop_front();
  pool.waiting--;
  return handoff;
}

// Runs while sandboxes wait, so an idle process has no thread of ours left.
void drop_idle() {
  pthread_setname_np(pthread_self(), "cb-expire");
  priority::background();
  std::unique_lock<std::mutex> lock(pool.mutex);
  while (pool.waiting > 0) {
    pool.gone.wait_for(lock, std::chrono::seconds(1));
    auto now = std::chrono::steady_clock::now();
    for (auto& [key, entry] : pool.keys) {
      if (!entry.waiting.empty() && now - entry.last_used >= kIdle) give_up(entry);
    }
  }
  pool.expiring = false;
}

// A hot key has two sandboxes more than the CPUs, those running included: a run
// finds one ready while others are being reset (at concurrency 2 here, +2 gave
// 7% more runs/s than +1).
size_t wanted_per_key() { return per_key() + 2; }

void expire_idle_later() {  // pool.mutex held
  if (pool.expiring) return;
  pool.expiring = true;
  std::thread(drop_idle).detach();
}

// One use is no sign of another; a second is. `spec`: a layout (layout_of).
void keep_warm(const std::string& key, const JobSpec& spec) {  // pool.mutex held
  auto it = pool.keys.find(key);
  if (it == pool.keys.end() || it->second.uses < 2) return;
  expire_idle_later();
  Key& entry = it->second;
  while (entry.waiting.size() < per_key() && entry.waiting.size() + entry.in_use < wanted_per_key() && make_room(key)) {
    entry.waiting.push_back(start(key, spec, For::Later));
    pool.waiting++;
  }
}

// A sandbox whose run has answered goes back on its key's list, to be reset (or
// rebuilt) before it is given the next run; nullptr when it is not wanted back.
std::shared_ptr<Handoff> come_back(const std::string& key) {
  std::lock_guard<std::mutex> lock(pool.mutex);
  auto it = pool.keys.find(key);
  if (it == pool.keys.end()) return nullptr;
  Key& entry = it->second;
  entry.in_use--;
  if (!pool.reuse || pool.releasing > 0 || entry.uses < 2 || entry.waiting.size() >= wanted_per_key() || !make_room(key)) return nullptr;
  pool.tearing_down--;  // back, not torn down
  auto handoff = std::make_shared<Handoff>();
  entry.waiting.push_back(handoff);  // behind those ready now
  pool.waiting++;
  expire_idle_later();
  return handoff;
}

}  // namespace

void launch(const JobSpec& spec, Done done) {
  std::string key = sandbox_key(spec);
  std::shared_ptr<Handoff> handoff;
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    handoff = take(key);
  }
  if (handoff == nullptr) handoff = start(key, spec, For::WaitingRun);
  {
    std::lock_guard<std::mutex> lock(handoff->mutex);
    // Started here when it is built, current and cheap to start: the program is
    // under way before the sandbox's thread has even woken up. Otherwise its
    // thread starts it, after the same check (a stale one is rebuilt for the run).
    if (handoff->built != nullptr && sandbox_quick_to_start(spec) && sandbox_current(*handoff->built)) {
      handoff->started = true;
      handoff->start_ok = sandbox_start(*handoff->built, spec, handoff->result);
    }
    handoff->spec = &spec;
    handoff->done = std::move(done);
  }
  // Told once the lock is free: woken under it, the sandbox's thread would
  // block again at once on the mutex, and be woken a second time.
  handoff->changed.notify_one();
}

void release() {
  std::unique_lock<std::mutex> lock(pool.mutex);
  pool.releasing++;
  for (auto& [key, entry] : pool.keys) give_up(entry);
  pool.gone.wait(lock, [] { return pool.tearing_down == 0; });
  pool.releasing--;
}

void set_reuse(bool reuse) { pool.reuse = reuse; }

Stats stats() { return {pool.builds.load(), pool.reuses.load()}; }

}  // namespace cb::warm

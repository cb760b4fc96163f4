// User namespace layer, and the slot each run holds. Each slot's namespace maps inside uid/gid 0 to one host
// id and 1000 to another, both in a range that owns nothing on the host, with
// setgroups denied. Creating a namespace and writing its maps costs a clone and
// three writes; doing it once per slot instead of once per run keeps launches
// cheap. A slot is held by one run at a time, and a slot number by one process
// on the host at a time (an flock on /run/cellblock/slots/<n>, released when the
// process dies), so no two concurrent runs anywhere on the host share a host uid.
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>

#include "clone.h"
#include "sandbox.h"
#include <vector>

namespace cb::userns {

namespace {

constexpr const char* kSlotLockDir = "/run/cellblock/slots";

std::mutex slots_mutex;
std::vector<Slot> free_slots;
std::vector<int> slot_locks;  // one per slot number this process holds, for its life
uid_t range_base = 1500000000;

// The lowest slot number no process on the host holds; its lock is kept.
bool claim_slot_number(int& index, std::string& error) {
  mkdir("/run/cellblock", 0755);
  mkdir(kSlotLockDir, 0755);
  for (int n = 0; n < 1 << 20; n++) {
    std::string path = std::string(kSlotLockDir) + "/" + std::to_string(n);
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      error = "userns: open " + path + ": " + strerror(errno);
      return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      slot_locks.push_back(fd);
      index = n;
      return true;
    }
    close(fd);  // held by another process, or by us already (a separate open file)
  }
  error = "userns: no free slot number";
  return false;
}

bool write_proc(pid_t pid, const char* file, const std::string& text, std::string& error) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!ok) error = "userns: write " + path + ": " + strerror(errno);
  if (fd >= 0) close(fd);
  return ok;
}

bool write_maps(pid_t pid, const Slot& slot, std::string& error) {
  std::string maps = "0 " + std::to_string(slot.init_host_uid) + " 1\n1000 " + std::to_string(slot.program_host_uid) + " 1\n";
  return write_proc(pid, "setgroups", "deny", error) && write_proc(pid, "uid_map", maps, error) &&
         write_proc(pid, "gid_map", maps, error);
}

}  // namespace

void set_base(uid_t base) {
  std::lock_guard<std::mutex> lock(slots_mutex);
  range_base = base;
}

uid_t base() {
  std::lock_guard<std::mutex> lock(slots_mutex);
  return range_base;
}

bool acquire(Slot& slot, std::string& error) {
  // Serialised: slots are made rarely (once per level of concurrency reached).
  std::lock_guard<std::mutex> lock(slots_mutex);
  if (!free_slots.empty()) {
    slot = free_slots.back();
    free_slots.pop_back();
    return true;
  }
  if (!claim_slot_number(slot.index, error)) return false;
  slot.init_host_uid = range_base + 2 * static_cast<uid_t>(slot.index);
  slot.program_host_uid = slot.init_host_uid + 1;
  // On failure the slot number stays claimed but unused: a later run takes the next.
  slot.fd = hold_new_namespace(CLONE_NEWUSER, "user", [&](pid_t pid) { return write_maps(pid, slot, error); }, error);
  return slot.fd >= 0;
}

void release(const Slot& slot) {
  if (slot.fd < 0) return;
  std::lock_guard<std::mutex> lock(slots_mutex);
  free_slots.push_back(slot);
}

}  // namespace cb::userns

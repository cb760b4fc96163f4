// Privilege layer: leave the namespace's root uid for an unprivileged one, empty
// every capability set (bounding, permitted, effective, inheritable, ambient),
// lock the securebits and set no_new_privs so nothing — a setuid binary, file
// capabilities — can give them back. The bounding set and the securebits are
// inherited: init sets them once for all its programs (it never execs, and keeps
// the effective capabilities it needs between runs); each program does the rest.
#include <linux/capability.h>
#include <linux/securebits.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

namespace cb {

namespace {

bool drop_bounding_set(const Plan& plan) {
  for (int cap = 0; cap <= plan.last_capability; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) child_fail(plan, Layer::Caps, "capbset_drop", nullptr);
  }
  return true;
}

bool lock_securebits(const Plan& plan) {
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                       SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) child_fail(plan, Layer::Caps, "securebits", nullptr);
  return true;
}

// Raw system calls: glibc's set*id would broadcast to the threads of Node.
bool become_program_user(const Plan& plan) {
  if (syscall(SYS_setresgid, kProgramUid, kProgramUid, kProgramUid) != 0)
    child_fail(plan, Layer::Caps, "setresgid", nullptr);
  if (syscall(SYS_setresuid, kProgramUid, kProgramUid, kProgramUid) != 0)
    child_fail(plan, Layer::Caps, "setresuid", nullptr);
  return true;
}

bool clear_capability_sets(const Plan& plan) {
  struct __user_cap_header_struct header;
  struct __user_cap_data_struct data[2];
  memset(&header, 0, sizeof header);
  memset(data, 0, sizeof data);
  header.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall(SYS_capset, &header, data) != 0) child_fail(plan, Layer::Caps, "capset", nullptr);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    child_fail(plan, Layer::Caps, "ambient_clear", nullptr);
  return true;
}

}  // namespace

bool caps_bound_for_good(const Plan& plan) {
  drop_bounding_set(plan);
  lock_securebits(plan);
  return true;
}

bool caps_drop_all(const Plan& plan) {
  become_program_user(plan);
  clear_capability_sets(plan);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(plan, Layer::Caps, "no_new_privs", nullptr);
  return true;
}

}  // namespace cb

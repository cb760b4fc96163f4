// User namespace layer (supervisor side): one user namespace per concurrent slot,
// created once with its maps written, entered by each run's init with setns.
#pragma once

#include <sys/types.h>

#include <string>

namespace cb::userns {

struct Slot {
  int index = -1;
  uid_t init_host_uid = 0;     // inside uid 0
  uid_t program_host_uid = 0;  // inside uid 1000
  int fd = -1;                 // the slot's user namespace
};

// The first host uid/gid of the range slots are mapped to: two per slot.
void set_base(uid_t base);
uid_t base();

bool acquire(Slot& slot, std::string& error);
void release(const Slot& slot);

}  // namespace cb::userns

// seccomp layer. The supervisor compiles a policy once with libseccomp and caches
// the BPF; the program loads it with a raw seccomp(2) call (async-signal-safe) and
// a user-notification listener, which it hands to the supervisor before exec. A
// forbidden syscall then blocks until the supervisor, having read its number from
// the listener, kills the run and names the syscall in the result. The i386 and
// x32 ABIs are outside the filter's architecture and are refused the same way.
#include "seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "sandbox.h"

namespace cb {

namespace seccomp {

namespace {

std::mutex cache_mutex;
std::map<std::string, std::shared_ptr<const Program>> cache;

uint32_t to_scmp_action(Action action, int errno_value) {
  switch (action) {
    case Action::Allow: return SCMP_ACT_ALLOW;
    case Action::Errno: return SCMP_ACT_ERRNO(static_cast<uint16_t>(errno_value));
    case Action::Violation: return SCMP_ACT_NOTIFY;
  }
  return SCMP_ACT_KILL_PROCESS;
}

bool to_scmp_op(const std::string& op, scmp_compare& out) {
  static const std::map<std::string, scmp_compare> ops = {
      {"eq", SCMP_CMP_EQ}, {"ne", SCMP_CMP_NE}, {"lt", SCMP_CMP_LT}, {"le", SCMP_CMP_LE},
      {"gt", SCMP_CMP_GT}, {"ge", SCMP_CMP_GE}, {"masked_eq", SCMP_CMP_MASKED_EQ}};
  auto it = ops.find(op);
  if (it == ops.end()) return false;
  out = it->second;
  return true;
}

bool add_rule(scmp_filter_ctx ctx, const Policy& policy, const Rule& rule, std::string& error) {
  int nr = seccomp_syscall_resolve_name(rule.syscall.c_str());
  if (nr == __NR_SCMP_ERROR) {
    error = "seccomp: unknown syscall '" + rule.syscall + "'";
    return false;
  }
  uint32_t action = to_scmp_action(rule.action, rule.errno_value);
  if (action == to_scmp_action(policy.default_action, policy.default_errno)) return true;
  std::vector<scmp_arg_cmp> checks;
  for (const ArgCheck& arg : rule.args) {
    scmp_compare op;
    if (!to_scmp_op(arg.op, op) || arg.index > 5) {
      error = "seccomp: bad argument check on '" + rule.syscall + "'";
      return false;
    }
    if (op == SCMP_CMP_MASKED_EQ) checks.push_back({arg.index, op, arg.mask, arg.value});
    else checks.push_back({arg.index, op, arg.value, 0});
  }
  int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(checks.size()), checks.data());
  if (rc != 0) {
    error = "seccomp: rule for '" + rule.syscall + "': " + strerror(-rc);
    return false;
  }
  return true;
}

bool export_program(scmp_filter_ctx ctx, Program& program, std::string& error) {
  int fd = memfd_create("cellblock-bpf", MFD_CLOEXEC);
  if (fd < 0) {
    error = std::string("seccomp: memfd_create: ") + strerror(errno);
    return false;
  }
  int rc = seccomp_export_bpf(ctx, fd);
  off_t size = lseek(fd, 0, SEEK_END);
  bool ok = rc == 0 && size > 0 && size % sizeof(sock_filter) == 0;
  if (ok) {
    program.resize(static_cast<size_t>(size) / sizeof(sock_filter));
    ok = pread(fd, program.data(), static_cast<size_t>(size), 0) == size;
  }
  close(fd);
  if (!ok) error = "seccomp: exporting the BPF program failed";
  return ok;
}

std::shared_ptr<const Program> build(const Policy& policy, std::string& error) {
  scmp_filter_ctx ctx = seccomp_init(to_scmp_action(policy.default_action, policy.default_errno));
  if (ctx == nullptr) {
    error = "seccomp: seccomp_init failed";
    return nullptr;
  }
  // We set no_new_privs ourselves; a binary tree keeps long allow-lists cheap.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  // A foreign ABI (int 0x80, x32) is a violation we can name; kill if the
  // library cannot route it to the listener.
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_NOTIFY) != 0)
    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  auto program = std::make_shared<Program>();
  bool ok = true;
  for (const Rule& rule : policy.rules) {
    if (!(ok = add_rule(ctx, policy, rule, error))) break;
  }
  // The program loads the filter before it waits for its run; what it does from
  // then until execve must stay allowed whatever the policy (child.cc), unless
  // the policy names the call itself.
  for (const char* name : {"write", "sendmsg", "recvmsg", "close", "fcntl", "dup2", "prlimit64", "close_range",
                           "rt_sigprocmask", "execve", "exit_group"}) {
    bool named = std::any_of(policy.rules.begin(), policy.rules.end(), [&](const Rule& r) { return r.syscall == name; });
    if (ok && !named) ok = add_rule(ctx, policy, {name, Action::Allow, 0, {}}, error);
  }
  if (ok) ok = export_program(ctx, *program, error);
  seccomp_release(ctx);
  return ok ? program : nullptr;
}

}  // namespace

bool is_compiled(const std::string& key) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return cache.count(key) > 0;
}

std::shared_ptr<const Program> compile(const Policy& policy, std::string& error) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = cache.find(policy.key);
  if (it != cache.end()) return it->second;
  auto program = build(policy, error);
  if (program != nullptr) cache.emplace(policy.key, program);
  return program;
}

std::string syscall_name(uint32_t arch, int nr) {
  // x32 calls arrive with the x86_64 arch and bit 30 set in the number
  constexpr int kX32Bit = 0x40000000;
  if (arch == SCMP_ARCH_X86_64 && (nr & kX32Bit) != 0) {
    arch = SCMP_ARCH_X32;
    nr &= ~kX32Bit;
  }
  char* name = seccomp_syscall_resolve_num_arch(arch, nr);
  std::string result = name != nullptr ? name : "syscall_" + std::to_string(nr);
  free(name);
  if (arch != seccomp_arch_native()) {
    const char* prefix = arch == SCMP_ARCH_X86 ? "i386" : arch == SCMP_ARCH_X32 ? "x32" : "foreign";
    result = std::string(prefix) + ":" + result;
  }
  return result;
}

bool receive_notification(int listener, uint32_t& arch, int& nr) {
  struct seccomp_notif* request = nullptr;
  struct seccomp_notif_resp* response = nullptr;
  if (seccomp_notify_alloc(&request, &response) != 0) return false;
  bool ok = seccomp_notify_receive(listener, request) == 0;
  if (ok) {
    arch = request->data.arch;
    nr = request->data.nr;
  }
  seccomp_notify_free(request, response);
  return ok;
}

}  // namespace seccomp

int seccomp_load(const Plan& plan) {
  long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &plan.filter);
  if (listener < 0) child_fail(plan, Layer::Seccomp, "load", nullptr);
  return static_cast<int>(listener);
}

}  // namespace cb

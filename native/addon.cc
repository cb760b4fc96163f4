// The N-API surface: launch(spec) → Promise<result>, probe() and configure().
// Parsing and result building happen on the JS thread; the run itself on its
// sandbox's thread (native/warm.cc), which hands its result back through a
// thread-safe function, so the event loop never blocks and runs overlap freely.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>

#include <map>
#include <mutex>

#include "cgroup.h"
#include "landlock.h"
#include "supervisor.h"
#include "userns.h"
#include "warm.h"

namespace cb {

namespace {

// Each field is read with one Get (absent: undefined): every lookup by name
// makes V8 find the name in its string table, the most of a launch's parsing.
std::vector<std::string> string_array(const Napi::Object& obj, const char* key) {
  std::vector<std::string> out;
  Napi::Value value = obj.Get(key);
  if (!value.IsArray()) return out;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  return out;
}

uint64_t number(const Napi::Object& obj, const char* key, uint64_t fallback) {
  Napi::Value value = obj.Get(key);
  return value.IsNumber() ? static_cast<uint64_t>(value.As<Napi::Number>().DoubleValue()) : fallback;
}

std::string string(const Napi::Object& obj, const char* key);

// A 64-bit value given as a decimal or 0x-hex string.
uint64_t word(const Napi::Object& obj, const char* key) {
  return strtoull(string(obj, key).c_str(), nullptr, 0);
}

std::string string(const Napi::Object& obj, const char* key) {
  Napi::Value value = obj.Get(key);
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
}

// Bytes may come as a Buffer (binary files, stdin) or a string.
std::string bytes(const Napi::Value& value) {
  if (value.IsBuffer()) {
    auto buffer = value.As<Napi::Buffer<char>>();
    return std::string(buffer.Data(), buffer.Length());
  }
  return value.As<Napi::String>().Utf8Value();
}

seccomp::Action action_of(const std::string& name) {
  if (name == "allow") return seccomp::Action::Allow;
  if (name == "errno") return seccomp::Action::Errno;
  return seccomp::Action::Violation;
}

seccomp::Policy parse_policy(const Napi::Object& obj) {
  seccomp::Policy policy;
  policy.key = string(obj, "key");
  policy.default_action = action_of(string(obj, "defaultAction"));
  policy.default_errno = static_cast<int>(number(obj, "defaultErrno", 1));
  if (seccomp::is_compiled(policy.key)) return policy;  // the rules were read before
  Napi::Array rules = obj.Get("rules").As<Napi::Array>();
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Object r = rules.Get(i).As<Napi::Object>();
    seccomp::Rule rule{string(r, "syscall"), action_of(string(r, "action")), static_cast<int>(number(r, "errno", 1)), {}};
    if (r.Has("args")) {
      Napi::Array args = r.Get("args").As<Napi::Array>();
      for (uint32_t j = 0; j < args.Length(); j++) {
        Napi::Object a = args.Get(j).As<Napi::Object>();
        rule.args.push_back({static_cast<unsigned>(number(a, "index", 0)), string(a, "op"), word(a, "value"), word(a, "mask")});
      }
    }
    policy.rules.push_back(rule);
  }
  return policy;
}

void parse_copies(const Napi::Object& obj, JobSpec& spec) {
  Napi::Value given = obj.Get("copies");
  if (!given.IsArray()) return;
  Napi::Array copies = given.As<Napi::Array>();
  for (uint32_t i = 0; i < copies.Length(); i++) {
    Napi::Object c = copies.Get(i).As<Napi::Object>();
    CopySpec copy;
    copy.dest = string(c, "dest");
    copy.mode = static_cast<uint32_t>(number(c, "mode", 0644));
    Napi::Value content = c.Get("content");
    copy.from_memory = !content.IsUndefined();
    if (copy.from_memory) copy.content = bytes(content);
    else copy.source = string(c, "source");
    spec.copies.push_back(copy);
  }
}

JobSpec parse_spec(const Napi::Object& obj) {
  JobSpec spec;
  spec.argv = string_array(obj, "argv");
  spec.env = string_array(obj, "env");
  spec.path_dirs = string_array(obj, "pathDirs");
  spec.ro_paths = string_array(obj, "readOnly");
  parse_copies(obj, spec);
  // Pipe ends to another sandbox: duplicated now, on the JS thread, so the
  // caller may close its own as soon as launch() returns.
  Napi::Value stdin_fd = obj.Get("stdinFd"), stdin_file = obj.Get("stdinFile"), stdin_data = obj.Get("stdinData");
  if (stdin_fd.IsNumber()) {
    spec.stdin_kind = StdinKind::Fd;
    spec.stdin_fd = fcntl(stdin_fd.As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  } else if (stdin_file.IsString()) {
    spec.stdin_kind = StdinKind::File;
    spec.stdin_path = stdin_file.As<Napi::String>().Utf8Value();
  } else if (!stdin_data.IsUndefined()) {
    spec.stdin_kind = StdinKind::Data;
    spec.stdin_data = bytes(stdin_data);
  }
  Napi::Value stdout_fd = obj.Get("stdoutFd");
  if (stdout_fd.IsNumber()) {
    spec.stdout_given = true;
    spec.stdout_fd = fcntl(stdout_fd.As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  }
  spec.truncate_output = obj.Get("truncateOutput").ToBoolean().Value();
  spec.collect = string_array(obj, "collect");
  spec.collect_bytes = number(obj, "collectBytes", spec.collect_bytes);
  spec.collect_files = number(obj, "collectFiles", spec.collect_files);
  spec.root_layers = string_array(obj, "rootLayers");
  spec.cpu_ms = number(obj, "cpuMs", spec.cpu_ms);
  spec.wall_ms = number(obj, "wallMs", spec.wall_ms);
  spec.memory_bytes = number(obj, "memoryBytes", spec.memory_bytes);
  spec.pids = number(obj, "pids", spec.pids);
  spec.output_bytes = number(obj, "outputBytes", spec.output_bytes);
  spec.file_bytes = number(obj, "fileBytes", spec.file_bytes);
  spec.open_files = number(obj, "openFiles", spec.open_files);
  spec.stack_bytes = number(obj, "stackBytes", spec.stack_bytes);
  spec.tmpfs_bytes = number(obj, "tmpfsBytes", spec.tmpfs_bytes);
  spec.tmpfs_inodes = number(obj, "tmpfsInodes", spec.tmpfs_inodes);
  spec.cpus = string(obj, "cpus");
  spec.landlock_abi = static_cast<int>(number(obj, "landlockAbi", 0));
  spec.policy = parse_policy(obj.Get("seccomp").As<Napi::Object>());
  for (const std::string& layer : string_array(obj, "testLayersOff")) {
    if (layer == "seccomp") spec.seccomp_off = true;
    if (layer == "network") spec.network_off = true;
  }
  spec.exposed = string_array(obj, "testExposed");
  return spec;
}

Napi::Object result_object(Napi::Env env, const JobResult& r) {
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("status", r.status);
  obj.Set("exitCode", r.exit_code >= 0 ? Napi::Value(Napi::Number::New(env, r.exit_code)) : env.Null());
  obj.Set("signal", r.signal > 0 ? Napi::Value(Napi::Number::New(env, r.signal)) : env.Null());
  obj.Set("cpuMs", r.cpu_ms);
  obj.Set("wallMs", r.wall_ms);
  obj.Set("memoryKb", static_cast<double>(r.memory_kb));
  obj.Set("stdout", Napi::Buffer<char>::Copy(env, r.out.data(), r.out.size()));
  obj.Set("stderr", Napi::Buffer<char>::Copy(env, r.err.data(), r.err.size()));
  if (!r.syscall.empty()) obj.Set("syscall", r.syscall);
  if (!r.files.empty() || !r.refused.empty()) {
    Napi::Array files = Napi::Array::New(env, r.files.size());
    for (size_t i = 0; i < r.files.size(); i++) {
      Napi::Object file = Napi::Object::New(env);
      file.Set("path", r.files[i].path);
      file.Set("mode", r.files[i].mode);
      file.Set("data", Napi::Buffer<char>::Copy(env, r.files[i].data.data(), r.files[i].data.size()));
      files.Set(i, file);
    }
    Napi::Array refused = Napi::Array::New(env, r.refused.size());
    for (size_t i = 0; i < r.refused.size(); i++) {
      Napi::Object file = Napi::Object::New(env);
      file.Set("path", r.refused[i].path);
      file.Set("reason", r.refused[i].reason);
      refused.Set(i, file);
    }
    obj.Set("files", files);
    obj.Set("refused", refused);
  }
  if (!r.error_code.empty()) {
    Napi::Object error = Napi::Object::New(env);
    error.Set("code", r.error_code);
    error.Set("message", r.error_message);
    obj.Set("error", error);
  }
  return obj;
}

struct Pending {
  JobSpec spec;
  JobResult result;
  Napi::Promise::Deferred deferred;
  double cancel_token;
  Napi::FunctionReference on_output;  // empty: the output is only in the result
};

// What the sandbox's thread hands the JS thread: a piece of output as the program
// wrote it, or (last, through the same queue, so after every piece) the result.
struct Delivery {
  Pending* pending;
  int stream;  // 1 stdout, 2 stderr; 0: the result
  std::string chunk;
};

// Runs that can be cancelled: the caller's token → the run's eventfd.
std::mutex cancel_mutex;
std::map<double, int> cancel_fds;

void register_cancel(Pending& pending) {
  if (pending.cancel_token <= 0) return;
  pending.spec.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::lock_guard<std::mutex> lock(cancel_mutex);
  cancel_fds[pending.cancel_token] = pending.spec.cancel_fd;
}

void unregister_cancel(Pending& pending) {
  if (pending.spec.cancel_fd < 0) return;
  std::lock_guard<std::mutex> lock(cancel_mutex);
  cancel_fds.erase(pending.cancel_token);
  close(pending.spec.cancel_fd);
}

void deliver(Napi::Env env, Napi::Function, void*, Delivery* delivery) {
  Pending* pending = delivery->pending;
  if (env != nullptr && delivery->stream == 0) {
    pending->deferred.Resolve(result_object(env, pending->result));
  } else if (env != nullptr) {
    pending->on_output.Call({Napi::String::New(env, delivery->stream == 1 ? "stdout" : "stderr"),
                             Napi::Buffer<char>::Copy(env, delivery->chunk.data(), delivery->chunk.size())});
    // the caller's callback threw: the run goes on, its output is still in the result
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  if (delivery->stream == 0) delete pending;
  delete delivery;
}

// cancel(token): the run started with this cancelToken is killed (its status is
// "cancelled"); false when no such run is in flight.
Napi::Value Cancel(const Napi::CallbackInfo& info) {
  double token = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
  std::lock_guard<std::mutex> lock(cancel_mutex);
  auto it = cancel_fds.find(token);
  if (it == cancel_fds.end()) return Napi::Boolean::New(info.Env(), false);
  uint64_t one = 1;
  ssize_t written = write(it->second, &one, sizeof one);
  return Napi::Boolean::New(info.Env(), written == sizeof one);
}

Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "launch(spec): spec must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object spec = info[0].As<Napi::Object>();
  auto* pending = new Pending{parse_spec(spec), {}, Napi::Promise::Deferred::New(env),
                              static_cast<double>(number(spec, "cancelToken", 0)), {}};
  register_cancel(*pending);
  Napi::Promise promise = pending->deferred.Promise();
  using Tsfn = Napi::TypedThreadSafeFunction<void, Delivery, deliver>;
  Tsfn tsfn = Tsfn::New(env, "cellblock-run", 0, 1);
  Napi::Value on_output = spec.Get("onOutput");
  if (on_output.IsFunction()) {
    pending->on_output = Napi::Persistent(on_output.As<Napi::Function>());
    pending->spec.on_output = [pending, tsfn](int stream, const char* data, size_t size) mutable {
      tsfn.BlockingCall(new Delivery{pending, stream, std::string(data, size)});
    };
  }
  warm::launch(pending->spec, [pending, tsfn](JobResult& result) mutable {
    pending->result = std::move(result);
    unregister_cancel(*pending);
    tsfn.BlockingCall(new Delivery{pending, 0, {}});
    tsfn.Release();
  });
  return promise;
}

// releaseWarm(): the sandboxes built ahead of their runs are dropped; returns once
// they are gone (tests that count what is left, and shutdown).
Napi::Value ReleaseWarm(const Napi::CallbackInfo& info) {
  warm::release();
  return info.Env().Undefined();
}

// poolStats(): {builds, reuses} since the process started (tests, the benchmark).
Napi::Value PoolStats(const Napi::CallbackInfo& info) {
  warm::Stats stats = warm::stats();
  Napi::Object obj = Napi::Object::New(info.Env());
  obj.Set("builds", static_cast<double>(stats.builds));
  obj.Set("reuses", static_cast<double>(stats.reuses));
  return obj;
}

const char* version_name(cgroup::Version version) {
  switch (version) {
    case cgroup::Version::V1: return "v1";
    case cgroup::Version::V2: return "v2";
    default: return "none";
  }
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cgroup::Info& cg = cgroup::detect();
  Napi::Object out = Napi::Object::New(env);
  struct utsname uts;
  uname(&uts);
  out.Set("kernel", std::string(uts.release));
  out.Set("landlockAbi", landlock::abi_version());
  out.Set("cgroupVersion", version_name(cg.version));
  out.Set("cgroupProblem", cg.problem);
  Napi::Object controllers = Napi::Object::New(env);
  controllers.Set("memory", cg.has_memory);
  controllers.Set("pids", cg.has_pids);
  controllers.Set("cpu", cg.has_cpu);
  controllers.Set("cpuset", cg.has_cpuset);
  controllers.Set("swapLimit", cg.has_swap_limit);
  out.Set("cgroupControllers", controllers);
  out.Set("cgroupParent", cg.version == cgroup::Version::V2 ? cg.parent : cg.memory);
  out.Set("uidBase", static_cast<double>(userns::base()));
  return out;
}

Napi::Value Configure(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object obj = info[0].As<Napi::Object>();
    if (obj.Has("uidBase")) userns::set_base(static_cast<uid_t>(number(obj, "uidBase", userns::base())));
    if (obj.Has("reuseSandboxes")) warm::set_reuse(obj.Get("reuseSandboxes").ToBoolean().Value());
  }
  return info.Env().Undefined();
}

// pipe() → [readFd, writeFd], close-on-exec: connects two sandboxes (an
// interactor and a solution); the caller closes both after launching them.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    Napi::Error::New(env, std::string("pipe2: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("cancel", Napi::Function::New(env, Cancel));
  exports.Set("launch", Napi::Function::New(env, Launch));
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("configure", Napi::Function::New(env, Configure));
  exports.Set("releaseWarm", Napi::Function::New(env, ReleaseWarm));
  exports.Set("poolStats", Napi::Function::New(env, PoolStats));
  // At exit, waiting sandboxes go the same way, so no cgroup of ours outlives us:
  // process.exit() runs atexit handlers but not the environment's cleanup hooks.
  env.AddCleanupHook([] { warm::release(); });
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit([] { warm::release(); }); });
  return exports;
}

}  // namespace

NODE_API_MODULE(cellblock, Init)

}  // namespace cb

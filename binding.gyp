{
  "targets": [
    {
      "target_name": "cellblock",
      "sources": [
        "native/addon.cc",
        "native/supervisor.cc",
        "native/plan.cc",
        "native/collect.cc",
        "native/workdir.cc",
        "native/warm.cc",
        "native/priority.cc",
        "native/reset.cc",
        "native/pidns.cc",
        "native/child.cc",
        "native/userns.cc",
        "native/clone.cc",
        "native/netns.cc",
        "native/mount.cc",
        "native/uts.cc",
        "native/caps.cc",
        "native/seccomp.cc",
        "native/landlock.cc",
        "native/rlimits.cc",
        "native/cgroup.cc",
        "native/cgroup_v1.cc",
        "native/cgroup_v2.cc",
        "native/cgroup_mounts.cc",
        "native/fds.cc",
        "native/error.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"],
      "libraries": ["-lseccomp", "-lpthread"]
    }
  ]
}

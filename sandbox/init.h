// Our pid-1 inside the sandbox: finishes setup in the new namespaces (an ordered checklist),
// forks and execs the payload, forwards signals to it, reaps every zombie, and reports the
// payload's end to the supervisor over the status pipe before exiting with its status.
#pragma once

#include <sys/capability.h>

#include <string>
#include <vector>

#include "sandbox/identity.h"
#include "sandbox/mount.h"
#include "sandbox/rlimits.h"
#include "sandbox/seccomp.h"

namespace bulkhead::sandbox {

// Everything init needs, prepared by the supervisor before clone.
struct InitConfig {
  std::string name;          // hostname
  bool new_mount_ns = true;  // apply `mounts`
  bool new_net_ns = true;    // bring lo up
  bool new_uts_ns = true;    // set the hostname
  bool new_pid_ns = true;    // else init makes its own session to kill by group
  std::vector<MountRecord> mounts;
  MountContext mount_context;
  PayloadIdentity identity;  // entered by the payload before its capabilities are trimmed
  bool low_ports = false;    // the payload's root may bind ports < 1024 and ping (own netns)
  std::string cwd;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // already valid fds
  std::vector<int> extra_fds;                         // become extra_fds_base, +1, ...
  int extra_fds_base = 3;
  std::vector<RlimitSetting> rlimits;
  std::vector<cap_value_t> keep_caps;
  const SeccompProgram* seccomp = nullptr;
  int sync_fd = -1;    // read end: the supervisor's "go" (EOF: it died)
  int status_fd = -1;  // write end: status lines (see below)
};

// Status pipe, one line per message:
//   "W <text>"  a degradation during setup     "E <text>"  setup failed, init exits 125
//   "R"         payload started                "F <code> <text>"  exec failed (code 126/127)
//   "X e <n>"   payload exited with n          "X s <n>"  payload killed by signal n
[[noreturn]] void run_init(const InitConfig& config);

}  // namespace bulkhead::sandbox

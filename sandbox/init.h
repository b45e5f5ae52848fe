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
#include "sandbox/sandbox.h"
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
  std::string sysctl_proc = "/proc";  // a writable procfs for those sysctls
  // The payload is a zygote (sandbox/forked.h): it keeps what forking sandboxes of its own
  // needs (caps.h keep_forking_privileges) instead of dropping every privilege.
  bool zygote = false;
  std::string cwd;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // already valid fds
  std::vector<int> extra_fds;                         // become extra_fds_base, +1, ...
  int extra_fds_base = 3;
  std::vector<int> extra_targets;     // when set: extra_fds[i] becomes extra_targets[i] instead
  bool controlling_terminal = false;  // the first terminal among fds 0-2 (SpawnSpec)
  std::vector<RlimitSetting> rlimits;
  std::vector<cap_value_t> keep_caps;
  const SeccompProgram* seccomp = nullptr;
  int sync_fd = -1;                     // read end: the supervisor's "go" (EOF: it died)
  int status_fd = -1;                   // write end: status lines (see below)
  std::vector<ListenerSpec> listeners;  // made after the mounts and `lo`, then handed out
  int listener_fd = -1;                 // our end of the socket they are sent on (SEQPACKET)
};

// Status pipe, one line per message:
//   "W <text>"  a degradation during setup     "E <text>"  setup failed, init exits 125
//   "R"         payload started                "F <code> <text>"  exec failed (code 126/127)
//   "X e <n>"   payload exited with n          "X s <n>"  payload killed by signal n
// Signals from the supervisor: SIGTSTP stops everything in the sandbox (SIGSTOP), SIGCONT
// continues it; INT, QUIT, HUP and WINCH go to the payload's process group, the rest to it.
[[noreturn]] void run_init(const InitConfig& config);

// The checklist's steps, shared by run_init and by a sandbox entered from a fork
// (sandbox/forked.h), so there is one checklist. Each throws SysError with context.

// Inside the new namespaces, before any payload: sysctls, mounts, `lo`, hostname.
void set_up_inside(const InitConfig& config, std::vector<std::string>& warnings);
// Blocks SIGCHLD and the forwarded signals; returns a signalfd for them.
int take_signals();
// The payload's side up to exec: signals (reset when `reset_signals`; a payload forked from a
// running interpreter keeps its handlers), session, fds, rlimits, identity, cwd, privileges,
// seccomp. Returns the status fd (moved, close-on-exec). On failure writes "F 125 ..." and
// exits 125.
int prepare_payload(const InitConfig& config, bool reset_signals);
// init once the payload runs: "R", forwards signals, reaps, reports the payload's end, exits.
[[noreturn]] void serve_payload(const InitConfig& config, int signal_fd, pid_t payload);
// One status line (newlines in `line` become spaces).
void send_status(int fd, const std::string& line);

}  // namespace bulkhead::sandbox

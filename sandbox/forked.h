// Sandboxes entered by a process forked from a running payload (a zygote: an interpreter that
// did its expensive start-up once, itself in a sandbox) instead of cloned by the supervisor.
// The supervisor describes such a sandbox once (ForkedSetup, as JSON); the zygote loads it and,
// for each child, runs init's checklist (init.h) in four steps around its own forks:
//
//   zygote -fork-> A: forked_unshare()   new mount, network, UTS, IPC and pid namespaces
//   A -fork-> B (pid 1 of the new pid namespace); A exits
//   B: forked_init_begin()   tells the supervisor who it is (its pid arrives translated into
//        the supervisor's pid namespace, SCM_CREDENTIALS), waits while the supervisor moves it
//        into its cgroup, then a cgroup namespace, sysctls, mounts, lo, hostname, signals
//   B -fork-> C;  B: forked_init_serve()   init's loop, never returns
//   C: forked_payload()   session, fds, rlimits, cwd, privileges, seccomp; then C returns to
//        the interpreter, which does the payload's work.
//
// The zygote's own sandbox is an ordinary one (Sandbox::spawn with SpawnSpec::zygote), whose
// payload keeps the privileges this needs (caps.h keep_forking_privileges). Knows nothing of
// pytest.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "sandbox/init.h"
#include "sandbox/seccomp.h"

namespace bulkhead::sandbox {

struct ForkedSetup {
  InitConfig init;         // everything but the name and the fds, which come per child
  SeccompProgram seccomp;  // the payload's filter (init.seccomp points here once loaded)

  std::string to_json() const;
  // Throws UserError naming what is missing or malformed.
  static ForkedSetup from_json(const std::string& text);
};

// The zygote itself, once its interpreter runs: only the payload's capabilities effective (caps.h
// settle_forking_privileges). Throws SysError.
void forked_settle(const ForkedSetup& setup);

// A: unshares the namespaces the setup asks for. Throws SysError.
void forked_unshare(const ForkedSetup& setup);

// B, pid 1 of the new pid namespace: the handshake on `handshake_fd` (a datagram-like unix
// socket whose peer has SO_PASSCRED: one byte out, "g" back), then the checklist inside.
// Returns the signalfd for forked_init_serve. On failure writes "E <text>" on `status_fd` and
// exits 125.
int forked_init_begin(const ForkedSetup& setup, const std::string& name, int handshake_fd,
                      int status_fd);

// B once C is forked: closes every fd but `status_fd` and `signal_fd`, writes "R", forwards
// signals to C, reaps, reports C's end ("X ..." lines, init.h) and exits with its status.
[[noreturn]] void forked_init_serve(const ForkedSetup& setup, int status_fd, int signal_fd,
                                    pid_t payload);

// C: `fds[i]` becomes fd `targets[i]` (0, 1 and 2 first; a source may repeat, to point several
// of the interpreter's descriptors at one file), every other fd is closed; then the payload's
// checklist as init.h prepare_payload, without resetting the interpreter's signal handlers.
// Returns on success; on failure writes "F 125 <text>" on `status_fd` and exits 125.
void forked_payload(const ForkedSetup& setup, const std::vector<int>& fds,
                    const std::vector<int>& targets, int status_fd);

}  // namespace bulkhead::sandbox

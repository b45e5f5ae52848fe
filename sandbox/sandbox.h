// The sandbox library's public face: a Sandbox per run (probes the host once, compiles the
// seccomp filter once, owns the run's parent cgroup) spawns Child sandboxes, each a private
// pid/mount/net/uts/ipc/cgroup namespace set (plus a user namespace when not root) with
// our own pid-1 init running the payload. Knows nothing of pytest.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/fd.h"
#include "sandbox/profile.h"

namespace bulkhead::sandbox {

// What this host let us isolate. `missing` holds one plain sentence per isolation we could
// not set up ("network namespace: unshare(CLONE_NEWNET): Operation not permitted; tests share
// the host network"). Empty means full isolation.
struct Isolation {
  bool user_namespace = false;  // true when running rootless through a user namespace
  std::string cgroup_mode;      // "v1", "v2", "hybrid" or "none"
  bool memory_limit = false, cpu_limit = false, pids_limit = false;
  bool overlay = false;  // project/HOME overlays (else read-only binds)
  std::string identity;  // who the payload is (sandbox/identity.h), one sentence
  std::vector<std::string> missing;
};

struct SandboxOptions {
  Profile profile;
  std::string run_id;              // names the run's cgroup: bulkhead-<run_id>
  bool require_isolation = false;  // throw instead of degrading
  bool use_cgroups = true;
  // "" : the sandbox's / is the host's (read-only). Else a directory tree (an image built by
  // images/, e.g. a Debian root with python3 and pytest) used as / instead, read-only; the
  // project dir, $HOME and the visible paths still come from the host.
  std::string image_root;
};

// A listening socket made inside the sandbox (in its network namespace, on its own filesystem)
// and handed to the caller, who accepts on it from outside: how a host-side relay serves
// connections that a payload makes to its own loopback or to a unix socket path.
struct ListenerSpec {
  bool unix_socket = false;
  std::string address;    // TCP: "127.0.0.1" or "::1"; unix: an absolute path inside
  uint16_t port = 0;      // TCP
  bool optional = false;  // skipped when the address family is unavailable (no IPv6)
};

struct SpawnSpec {
  std::string name;  // hostname and cgroup leaf, e.g. "gw0"
  // The cgroup leaf when it is not `name`: a slot's next sandbox made while its current one
  // (leaf `name`) still runs (a spare, src/run/supervisor_spares.cc).
  std::string cgroup_name;
  std::vector<std::string> argv;           // argv[0] without '/' is looked up in PATH of `env`
  std::vector<std::string> env;            // complete environment, "KEY=VALUE"
  std::string cwd;                         // working directory inside (default: our cwd)
  std::string project_dir;                 // overlaid read-write-private (default: cwd)
  std::vector<std::string> visible_paths;  // kept visible (read-only) if a tmpfs would hide them
  int stdin_fd = -1;                       // -1: /dev/null
  int stdout_fd = -1;                      // -1: inherit ours
  int stderr_fd = -1;                      // -1: inherit ours
  std::vector<int> extra_fds;              // become fds extra_fds_base, +1, ... in the payload
  int extra_fds_base = 3;                  // > 2; high numbers keep them out of the way
  // The payload is a zygote: it forks sandboxes of its own (sandbox/forked.h). It keeps the
  // privileges that needs in its user namespace, with a seccomp filter that allows the
  // namespace and mount calls, and a spare procfs; see docs/security.md.
  bool zygote = false;
  // One of fds 0-2 is a pseudo-terminal's slave (bulkhead exec's): it becomes the payload's
  // controlling terminal (the payload still has a session of its own).
  bool controlling_terminal = false;
  // Made by init after the mounts and `lo`: TCP ones only in a private network namespace,
  // unix ones only in a private mount namespace (else they would land on the host's).
  std::vector<ListenerSpec> listeners;
  // Two more fds after extra_fds: the payload's own cgroup's memory peak (readable; a write
  // resets it where the kernel allows) and CPU time (v1 cpuacct.usage, v2 cpu.stat), for
  // measuring its own work between two points. /dev/null (reads empty) where there is none.
  bool counter_fds = false;
};

// How a sandbox ended. `exited`/`signaled` describe the payload (the command run inside).
struct ExitInfo {
  bool exited = false;
  int exit_code = 0;
  bool signaled = false;
  int term_signal = 0;
  bool killed_by_us = false;        // Child::kill() was called
  bool oom_killed = false;          // read from the cgroup, not guessed from SIGKILL
  uint64_t memory_limit_bytes = 0;  // 0: none
  uint64_t memory_peak_bytes = 0;   // 0: unknown
  bool pids_limit_hit = false;      // a fork failed at pids.max
  uint64_t pids_limit = 0;
  std::string setup_error;  // the sandbox failed before exec (with context)
};

// Counters of a running sandbox's cgroup (zeros without one).
struct LiveCounters {
  uint64_t oom_kills = 0;
  uint64_t pids_limit_hits = 0;  // forks refused at pids.max so far
  uint64_t memory_peak_bytes = 0;
};

class Child {
 public:
  virtual ~Child() = default;                 // kills what is left, reaps, removes the cgroup
  virtual pid_t pid() const = 0;              // host pid of our init (pid 1 inside)
  virtual int pidfd() const = 0;              // readable once init has exited; for poll/epoll
  virtual void signal(int sig) = 0;           // init forwards it to the payload
  virtual void kill() = 0;                    // SIGKILL the whole sandbox (cgroup.kill or ns init)
  virtual bool running() = 0;                 // non-blocking
  virtual LiveCounters counters() const = 0;  // read from the cgroup now
  virtual ExitInfo wait() = 0;                // blocks until exit; idempotent
  // The listening sockets, parallel to SpawnSpec::listeners (invalid where one was not made:
  // an optional one, or a namespace the host refused). Non-blocking. Once; later calls: empty.
  virtual std::vector<UniqueFd> take_listeners() { return {}; }
  // A zygote's child adopted without waiting for its setup (Sandbox::adopt, wait_ready false):
  // setup_fd() becomes readable as its init reports, setup_done() reads what is there (or waits
  // for all of it) and says whether its init is ready; it throws UserError with init's reason,
  // the sandbox killed, when setup failed. Any other Child: -1, true.
  virtual int setup_fd() const { return -1; }
  virtual bool setup_done(bool /*wait*/) { return true; }
};

// A zygote child's cgroup, made before the child exists, so that its counter fds can travel
// with the fork request (Sandbox::prepare_cgroup, then Sandbox::adopt).
class PreparedCgroup {
 public:
  virtual ~PreparedCgroup() = default;
  // SpawnSpec::counter_fds' two descriptors (memory peak, CPU time), /dev/null where none.
  virtual std::vector<UniqueFd> counter_fds() const = 0;
};

class Sandbox {
 public:
  // Probes the host, compiles the seccomp filter, creates the run's cgroup. Throws
  // UserError when require_isolation is set and something is missing.
  static std::unique_ptr<Sandbox> create(SandboxOptions options);
  virtual ~Sandbox() = default;  // removes the run's cgroup
  virtual std::unique_ptr<Child> spawn(const SpawnSpec& spec) = 0;

  // Zygotes (sandbox/forked.h). Why this run's sandboxes cannot be entered from a zygote's
  // fork, in one sentence; "" when they can.
  virtual std::string zygote_unavailable() const = 0;
  // What a zygote's children need to enter a sandbox like the one `spec` would get from
  // spawn(), as ForkedSetup JSON (per-child names and fds come with each fork).
  virtual std::string forked_setup(const SpawnSpec& spec) = 0;
  // The supervisor's side of one zygote child: reads the child's pid from `handshake` (our end
  // of the socket the child's init writes to, see forked_init_begin), moves it into a new
  // cgroup leaf `name`, says "go", takes the `listeners` listening sockets its init makes
  // (ForkedSetup's SpawnSpec::listeners, sent on `handshake`), and waits for init's "R" on
  // `status` (`wait_ready`; else Child::setup_done() does). Throws with context, after killing
  // the child, when setup fails. `cgroup`: the one prepare_cgroup made for it (null: made here).
  virtual std::unique_ptr<Child> adopt(const std::string& name,
                                       std::unique_ptr<PreparedCgroup> cgroup, UniqueFd handshake,
                                       UniqueFd status, std::size_t listeners, bool wait_ready) = 0;
  // The cgroup leaf `name` for a zygote child about to be forked (empty without cgroups).
  virtual std::unique_ptr<PreparedCgroup> prepare_cgroup(const std::string& name) = 0;
  virtual const Isolation& isolation() const = 0;
  virtual const Profile& profile() const = 0;
};

}  // namespace bulkhead::sandbox

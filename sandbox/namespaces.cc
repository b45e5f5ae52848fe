// Namespace table, clone3 wrapper and the creation probe.
#include "sandbox/namespaces.h"

#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace bulkhead::sandbox {

const std::vector<NamespaceKind>& sandbox_namespaces() {
  static const std::vector<NamespaceKind> kinds = {
      {CLONE_NEWNS, "mount", "no private /tmp, no read-only host, no overlays"},
      {CLONE_NEWPID, "pid", "host processes are visible and leftovers are not reaped"},
      {CLONE_NEWNET, "network", "tests share the host's network and ports"},
      {CLONE_NEWUTS, "uts", "the hostname is the host's"},
      {CLONE_NEWIPC, "ipc", "System V IPC and POSIX queues are shared with the host"},
      {CLONE_NEWCGROUP, "cgroup", "the host's cgroup paths are visible"},
  };
  return kinds;
}

long clone3_process(unsigned long flags, int* pidfd_out, int cgroup_fd) {
  struct clone_args args = {};
  args.flags = flags;
  if (pidfd_out != nullptr) {
    args.flags |= CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uint64_t>(pidfd_out);
  }
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  args.exit_signal = SIGCHLD;
  return ::syscall(SYS_clone3, &args, sizeof args);
}

int probe_namespaces(unsigned long flags, bool with_user_ns) {
  long pid = clone3_process(flags | (with_user_ns ? CLONE_NEWUSER : 0), nullptr, -1);
  if (pid < 0) return errno;
  if (pid == 0) ::_exit(0);
  int status = 0;
  while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : ECHILD;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev == nullptr) return "signal " + std::to_string(sig);
  return std::string("SIG") + abbrev;
}

}  // namespace bulkhead::sandbox

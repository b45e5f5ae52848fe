// Probes for `bulkhead doctor`'s verdict on degraded environments: a child that drops to an
// unprivileged uid and asks for a user namespace; the seccomp state of this process and what
// clone3 and clone answer; the cgroup result of the doctor's own sandbox.
#include "src/cli/degraded_modes.h"

#include <fmt/core.h>
#include <grp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/file_util.h"
#include "sandbox/namespaces.h"

namespace bulkhead {
namespace {

constexpr uid_t kNobody = 65534;

// 0 when an unprivileged user may create a user namespace, else the errno. As root, a child
// drops to uid 65534 first (what a rootless user would be).
int unprivileged_userns_errno() {
  if (::geteuid() != 0) return sandbox::probe_namespaces(0, true);
  pid_t child = ::fork();
  if (child < 0) return errno;
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(255);
    }
    ::_exit(sandbox::probe_namespaces(0, true) & 0xff);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) return ECHILD;
  return WEXITSTATUS(status);
}

std::string sysctl_notes() {
  std::string notes;
  for (const char* path :
       {"/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"}) {
    auto value = try_read_file(path);
    if (!value) continue;
    std::string name = std::string(path).substr(std::strlen("/proc/sys/"));
    for (auto& c : name) {
      if (c == '/') c = '.';
    }
    if (!notes.empty()) notes += ", ";
    notes += name + " = " + value->substr(0, value->find('\n'));
  }
  return notes;
}

}  // namespace

DegradedModes detect_degraded_modes(const sandbox::Isolation* isolation) {
  DegradedModes modes;
  // (b) first: under such a filter, (a) cannot be told apart.
  const bool rootless = ::geteuid() != 0;
  int refused = 0;
  std::string first_errno;
  for (const auto& kind : sandbox::sandbox_namespaces()) {
    int err = sandbox::probe_namespaces(kind.flag, rootless);
    if (err == 0) continue;
    ++refused;
    if (first_errno.empty()) first_errno = std::strerror(err);
  }
  const bool clone3_missing = ::syscall(SYS_clone3, nullptr, 0) < 0 && errno == ENOSYS;
  if (sandbox::under_seccomp_filter() && (refused > 0 || clone3_missing) &&
      (!rootless || sandbox::probe_namespaces(0, true) == 0 || refused > 0)) {
    modes.seccomp_blocked = fmt::format(
        "a seccomp filter on bulkhead itself refuses {} of 6 namespaces ({}){}; as under "
        "Docker's default profile: run with --security-opt seccomp=unconfined, or accept "
        "the missing isolation",
        refused, first_errno.empty() ? "none" : first_errno,
        clone3_missing ? " and clone3 (ENOSYS)" : "");
  }
  if (!modes.seccomp_blocked) {
    int err = unprivileged_userns_errno();
    if (err != 0) {
      std::string notes = sysctl_notes();
      modes.userns_off = fmt::format(
          "unprivileged user namespaces are off ({}{}{}): rootless runs get no "
          "namespace at all; root runs are not affected",
          std::strerror(err), notes.empty() ? "" : "; ", notes);
    }
  }
  if (isolation != nullptr && !isolation->memory_limit && !isolation->pids_limit) {
    modes.no_cgroup =
        "no writable cgroup for this user: no memory, cpu or pids limits "
        "(memory falls back to RLIMIT_AS), and OOM kills cannot be told apart";
  }
  return modes;
}

}  // namespace bulkhead

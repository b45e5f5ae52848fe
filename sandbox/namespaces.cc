// Namespace table, clone3 wrapper and the creation probe.
#include "sandbox/namespaces.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>

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

long clone3_process(unsigned long flags, int* pidfd_out, int cgroup_fd, bool* placed_in_cgroup) {
  if (placed_in_cgroup != nullptr) *placed_in_cgroup = false;
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
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid >= 0 || errno != ENOSYS) {
    if (pid > 0 && placed_in_cgroup != nullptr) *placed_in_cgroup = cgroup_fd >= 0;
    return pid;
  }
  // clone(2) on x86_64: flags, stack (0: the child continues on a copy of ours, as after
  // fork), parent_tid (receives the pidfd with CLONE_PIDFD), child_tid, tls.
  unsigned long old_flags = (args.flags & ~static_cast<unsigned long>(CLONE_INTO_CGROUP)) | SIGCHLD;
  return ::syscall(SYS_clone, old_flags, 0L, pidfd_out, 0L, 0L);
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

bool under_seccomp_filter() {
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  std::string text;
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fd);
  auto at = text.find("\nSeccomp:");
  return at != std::string::npos && std::atoi(text.c_str() + at + 9) == 2;
}

int probe_overlay_in_user_namespace() {
  // The child allocates nothing: another thread of ours may hold the allocator's lock, and a
  // raw clone3 child inherits it locked.
  const std::string uid_map = std::to_string(::getuid()) + " " + std::to_string(::getuid()) + " 1";
  const std::string gid_map = std::to_string(::getgid()) + " " + std::to_string(::getgid()) + " 1";
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errno;
  long pid = clone3_process(CLONE_NEWUSER | CLONE_NEWNS, nullptr, -1);
  if (pid < 0) {
    int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return err;
  }
  if (pid == 0) {
    // The child: map ourselves, then try tmpfs + overlay on a private mount tree.
    auto fail = [&](int err) {
      (void)!::write(report[1], &err, sizeof err);
      ::_exit(1);
    };
    auto write_text = [](const char* path, std::string_view text) {
      int fd = ::open(path, O_WRONLY | O_CLOEXEC);
      bool ok =
          fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      if (fd >= 0) ::close(fd);
      return ok;
    };
    if (!write_text("/proc/self/setgroups", "deny") || !write_text("/proc/self/uid_map", uid_map) ||
        !write_text("/proc/self/gid_map", gid_map)) {
      fail(errno);
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(errno);
    if (::mount("tmpfs", "/tmp", "tmpfs", 0, "mode=0700") != 0) fail(errno);
    for (const char* dir : {"/tmp/l", "/tmp/u", "/tmp/w", "/tmp/m"}) {
      if (::mkdir(dir, 0700) != 0) fail(errno);
    }
    if (::mount("overlay", "/tmp/m", "overlay", 0,
                "lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w") != 0) {
      fail(errno);
    }
    ::_exit(0);
  }
  ::close(report[1]);
  int err = 0;
  if (::read(report[0], &err, sizeof err) != sizeof err) err = 0;
  ::close(report[0]);
  int status = 0;
  while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  if (err == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) err = ECHILD;
  return err;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev == nullptr) return "signal " + std::to_string(sig);
  return std::string("SIG") + abbrev;
}

}  // namespace bulkhead::sandbox

// The sandbox's init (pid 1): setup checklist, payload launch, signal forwarding, reaping.
#include "sandbox/init.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <set>

#include "sandbox/caps.h"
#include "sandbox/error.h"
#include "sandbox/net.h"

namespace bulkhead::sandbox {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT,  SIGHUP,   SIGQUIT, SIGUSR1,
                              SIGUSR2, SIGCONT, SIGWINCH, SIGTSTP};

// What a terminal sends to its whole foreground group goes to the payload's group, as it
// would have without us: the payload is in a session of its own (no controlling terminal).
bool for_the_group(int sig) {
  return sig == SIGINT || sig == SIGQUIT || sig == SIGHUP || sig == SIGWINCH;
}

}  // namespace

void send_status(int fd, const std::string& line) {
  std::string text = line;
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  text += '\n';
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

namespace {

// Moves `fds` to `targets` without clobbering one another, then closes every other fd.
void install_fds(const std::vector<int>& fds, const std::vector<int>& targets) {
  const int count = static_cast<int>(fds.size());
  const int above = *std::max_element(targets.begin(), targets.end()) + 1;
  std::vector<int> moved(fds.size());
  // First lift every source above the targets, so a dup2 cannot overwrite a source still to
  // be copied.
  for (int i = 0; i < count; ++i) {
    moved[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, above);
    if (moved[i] < 0) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
  }
  for (int i = 0; i < count; ++i) {
    if (::dup2(moved[i], targets[i]) < 0) throw_errno("dup2 to fd " + std::to_string(targets[i]));
  }
  int next = 0;  // close the gaps between targets and everything above them
  for (int target : std::set<int>(targets.begin(), targets.end())) {
    if (target > next)
      ::close_range(static_cast<unsigned>(next), static_cast<unsigned>(target - 1), 0);
    next = target + 1;
  }
  ::close_range(static_cast<unsigned>(next), ~0U, 0);
}

// Finds argv[0] on the PATH of the payload's own environment (execvpe would use ours).
[[noreturn]] void exec_payload(const InitConfig& config, int status_fd) {
  std::vector<char*> argv, envp;
  for (const auto& a : config.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& e : config.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  envp.push_back(nullptr);
  const std::string& program = config.argv.at(0);
  int err = ENOENT;
  if (program.find('/') != std::string::npos) {
    ::execve(program.c_str(), argv.data(), envp.data());
    err = errno;
  } else {
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
      ::execve(candidate.c_str(), argv.data(), envp.data());
      if (errno != ENOENT && errno != ENOTDIR) err = errno;  // remember EACCES and the like
      start = end + 1;
    }
  }
  int code = err == ENOENT ? 127 : 126;
  send_status(status_fd, "F " + std::to_string(code) + " cannot execute '" + program +
                             "': " + std::strerror(err));
  ::_exit(code);
}

// SIG_DFL through the raw syscall: libc refuses the two real-time signals it keeps for
// itself (32, 33), which an ignoring parent still passes on.
void reset_signal(int sig) {
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    unsigned long mask;
  } action = {SIG_DFL, 0, nullptr, 0};
  ::syscall(SYS_rt_sigaction, sig, &action, nullptr, sizeof action.mask);
}

}  // namespace

int prepare_payload(const InitConfig& config, bool reset_signals) {
  // A status fd above the installed range that closes on exec.
  int status_fd = ::fcntl(config.status_fd, F_DUPFD_CLOEXEC, 100);
  try {
    // A clean slate: whatever the supervisor blocked (it reads signals through a signalfd)
    // or ignored (a shell's `&` ignores SIGINT) must not reach the payload. A payload forked
    // from a running interpreter keeps that interpreter's handlers (a fresh one's).
    for (int sig = 1; reset_signals && sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) reset_signal(sig);
    }
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    // A session of its own: the caller's terminal is not its controlling terminal (TIOCSTI
    // is denied by seccomp too, and /dev/tty cannot reach the caller's); `bulkhead exec`
    // gives it a pty of its own instead (controlling_terminal, below).
    if (::setsid() < 0) throw_errno("setsid");
    // fds first (above RLIMIT_NOFILE is fine once they are there), the user namespace's kept
    // for setns; then limits while we may still raise them, then the identity.
    std::vector<int> fds = {config.stdin_fd, config.stdout_fd, config.stderr_fd};
    std::vector<int> targets = {0, 1, 2};
    for (size_t i = 0; i < config.extra_fds.size(); ++i) {
      fds.push_back(config.extra_fds[i]);
      targets.push_back(i < config.extra_targets.size()
                            ? config.extra_targets[i]
                            : config.extra_fds_base + static_cast<int>(i));
    }
    PayloadIdentity identity = config.identity;
    fds.push_back(status_fd);  // both close at exec
    targets.push_back(*std::max_element(targets.begin(), targets.end()) + 1);
    if (identity.userns_fd >= 0) {
      fds.push_back(identity.userns_fd);
      targets.push_back(targets.back() + 1);
    }
    install_fds(fds, targets);
    if (config.controlling_terminal) {
      for (int fd = 0; fd < 3; ++fd) {
        if (::isatty(fd) != 1) continue;
        if (::ioctl(fd, TIOCSCTTY, 0) != 0) throw_errno("ioctl(TIOCSCTTY)");
        break;
      }
    }
    status_fd = targets[fds.size() - (identity.userns_fd >= 0 ? 2 : 1)];
    if (::fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) throw_errno("fcntl(status fd)");
    if (identity.userns_fd >= 0) identity.userns_fd = targets.back();
    apply_rlimits(config.rlimits);
    if (config.zygote) ::prctl(PR_SET_KEEPCAPS, 1);  // through the uid change: see caps.h
    enter_identity(identity);
    if (identity.userns_fd >= 0) ::close(identity.userns_fd);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // after the uid change, which clears it
    if (!config.cwd.empty() && ::chdir(config.cwd.c_str()) != 0) {
      throw_errno("chdir(" + config.cwd + ")");
    }
    if (config.zygote) {
      keep_forking_privileges(config.keep_caps, config.identity.keeps_root_capabilities);
    } else {
      drop_privileges(config.keep_caps, config.identity.keeps_root_capabilities);
    }
    if (config.seccomp != nullptr) {
      int err = load_seccomp(*config.seccomp);
      if (err != 0) throw SysError("prctl(PR_SET_SECCOMP)", err);
    }
  } catch (const std::exception& e) {
    send_status(status_fd, std::string("F 125 payload setup: ") + e.what());
    ::_exit(125);
  }
  return status_fd;
}

namespace {

// The payload's side of the checklist, after fork from init: prepare, then exec.
[[noreturn]] void start_payload(const InitConfig& config) {
  exec_payload(config, prepare_payload(config, true));
}

// The supervisor's fds (other sandboxes' pipes, a relay's sockets) came with the clone: keep
// only ours (the user namespaces the payload enters and the views are mapped through too), so
// none of theirs lives as long as this sandbox.
void close_inherited_fds(const InitConfig& config) {
  std::vector<int> keep = {config.status_fd, config.listener_fd, config.stdin_fd};
  keep.insert(keep.end(), {config.stdout_fd, config.stderr_fd, 0, 1, 2});
  keep.insert(keep.end(), {config.identity.userns_fd, config.mount_context.idmap_userns_fd});
  keep.insert(keep.end(), config.extra_fds.begin(), config.extra_fds.end());
  std::sort(keep.begin(), keep.end());
  int next = 0;
  for (int fd : keep) {
    if (fd > next) ::close_range(static_cast<unsigned>(next), static_cast<unsigned>(fd - 1), 0);
    next = std::max(next, fd + 1);
  }
  ::close_range(static_cast<unsigned>(next), ~0U, 0);
}

std::string describe_wait(int status) {
  if (WIFEXITED(status)) return "X e " + std::to_string(WEXITSTATUS(status));
  return "X s " + std::to_string(WTERMSIG(status));
}

int exit_code_for(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

void set_up_inside(const InitConfig& config, std::vector<std::string>& warnings) {
  // 2. Filesystem, 3. network, 4. hostname (uid maps and cgroups were done from outside).
  // Low ports first: the net sysctls go through a procfs the mounts replace.
  if (config.new_net_ns && config.low_ports) allow_low_ports_and_ping(config.sysctl_proc);
  if (config.new_mount_ns) apply_mount_plan(config.mounts, config.mount_context, warnings);
  if (config.new_net_ns) bring_up_loopback();
  if (config.new_uts_ns) set_hostname(config.name);
}

int take_signals() {
  // 5. Signals arrive through a signalfd, so none is lost between checks.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  for (int sig : kForwarded) sigaddset(&handled, sig);
  if (::sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) throw_errno("sigprocmask");
  int signal_fd = ::signalfd(-1, &handled, SFD_CLOEXEC);
  if (signal_fd < 0) throw_errno("signalfd");
  return signal_fd;
}

void serve_payload(const InitConfig& config, int signal_fd, pid_t payload) {
  send_status(config.status_fd, "R");
  // Our copies of the payload's fds are no longer needed.
  for (int fd : {config.stdin_fd, config.stdout_fd, config.stderr_fd}) {
    if (fd > 2) ::close(fd);
  }
  for (int fd : config.extra_fds) ::close(fd);

  // 7. Forward signals, reap everything, leave when the payload has ended.
  for (;;) {
    struct signalfd_siginfo info;
    ssize_t got = ::read(signal_fd, &info, sizeof info);
    if (got < 0 && errno == EINTR) continue;
    if (got != sizeof info) ::_exit(125);
    if (info.ssi_signo == SIGCHLD) {
      int status = 0;
      pid_t reaped;
      while ((reaped = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (reaped == payload) {
          send_status(config.status_fd, describe_wait(status));
          ::_exit(exit_code_for(status));
        }
      }
      continue;
    }
    // A terminal's ^C reaches the supervisor, not us (our own group) nor the payload (its own
    // session): the supervisor forwards it. Only signals a process sent are forwarded.
    if (info.ssi_code != SI_KERNEL) {
      const int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGTSTP || sig == SIGCONT) {
        // Suspend or resume the whole sandbox (^Z on `bulkhead exec`): everything in our pid
        // namespace but us; without one, the payload's session (its group, after setsid).
        ::kill(config.new_pid_ns ? -1 : -payload, sig == SIGTSTP ? SIGSTOP : SIGCONT);
      } else {
        ::kill(for_the_group(sig) ? -payload : payload, sig);
      }
    }
  }
}

void run_init(const InitConfig& config) {
  // 1. Die with the supervisor; the pipe read closes the race where it died before prctl.
  // Leave the caller's process group, so a terminal's ^C reaches only the supervisor, which
  // forwards it once (two SIGINTs pending at once would merge into one); without a pid
  // namespace, a session of our own, to kill by group.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (config.new_pid_ns ? ::setpgid(0, 0) != 0 : ::setsid() < 0) ::_exit(125);
  char go = 0;
  ssize_t n;
  do {
    n = ::read(config.sync_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(125);
  ::close(config.sync_fd);
  close_inherited_fds(config);

  std::vector<std::string> warnings;
  int signal_fd = -1;
  try {
    set_up_inside(config, warnings);
    // 4b. Listeners for the caller's relay (after the mounts: unix ones go on our own tmpfs).
    if (config.listener_fd >= 0) {
      hand_out_listeners(config.listeners, config.new_net_ns, config.new_mount_ns,
                         config.listener_fd);
      ::close(config.listener_fd);
    }
    signal_fd = take_signals();
  } catch (const std::exception& e) {
    send_status(config.status_fd, std::string("E ") + e.what());
    ::_exit(125);
  }
  for (const auto& warning : warnings) send_status(config.status_fd, "W " + warning);

  // 6. The payload.
  pid_t payload = ::fork();
  if (payload < 0) {
    send_status(config.status_fd, std::string("E fork payload: ") + std::strerror(errno));
    ::_exit(125);
  }
  if (payload == 0) start_payload(config);
  serve_payload(config, signal_fd, payload);
}

}  // namespace bulkhead::sandbox

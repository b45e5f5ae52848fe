// `bulkhead exec`: one command in one sandbox; exits with its status, or with a documented
// code naming the limit that ended it (see docs/cli.md).
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "sandbox/namespaces.h"
#include "sandbox/sandbox.h"
#include "src/cli/commands.h"
#include "src/cli/exec_terminal.h"
#include "src/cli/limits_cli.h"
#include "src/cli/option_values.h"
#include "src/cli/paths.h"
#include "src/services/forwarding.h"

extern char** environ;

namespace bulkhead {
namespace {

// Exit codes of `bulkhead exec` besides the payload's own (isolate-style status in brackets).
constexpr int kExitOom = 121;           // OOM: the memory cgroup's OOM killer ended it
constexpr int kExitPidsLimit = 122;     // PIDS: it failed after a fork hit pids.max
constexpr int kExitTimeout = 124;       // TO: wall-clock limit
constexpr int kExitSandboxError = 125;  // XX: bulkhead itself failed (options, profile, setup)

std::string make_run_id() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

std::string human_bytes(uint64_t bytes) {
  if (bytes >= (1ULL << 30)) return fmt::format("{:.1f} GiB", bytes / double(1ULL << 30));
  return fmt::format("{:.1f} MiB", bytes / double(1ULL << 20));
}

int report_end(const sandbox::ExitInfo& info, bool timed_out, double timeout_s) {
  if (timed_out) {
    std::fprintf(stderr, "bulkhead: TO: wall time limit %gs exceeded; sandbox killed\n", timeout_s);
    return kExitTimeout;
  }
  if (info.oom_killed) {
    // memory.peak needs Linux 5.19 on v2: before, the peak is not known.
    std::string peak = info.memory_peak_bytes ? "peak " + human_bytes(info.memory_peak_bytes)
                                              : "peak not reported by this kernel";
    std::fprintf(stderr, "bulkhead: OOM: memory limit %s reached (%s); killed by the kernel\n",
                 human_bytes(info.memory_limit_bytes).c_str(), peak.c_str());
    return kExitOom;
  }
  bool failed = info.signaled || (info.exited && info.exit_code != 0);
  if (info.pids_limit_hit && failed) {
    std::fprintf(stderr, "bulkhead: PIDS: pids limit %llu reached; a fork was refused\n",
                 static_cast<unsigned long long>(info.pids_limit));
    return kExitPidsLimit;
  }
  if (!info.setup_error.empty()) {
    std::fprintf(stderr, "bulkhead: %s\n", info.setup_error.c_str());
    return info.exit_code != 0 ? info.exit_code : kExitSandboxError;
  }
  if (info.signaled) {
    std::fprintf(stderr, "bulkhead: SG: killed by %s\n",
                 sandbox::signal_name(info.term_signal).c_str());
    return 128 + info.term_signal;
  }
  return info.exit_code;
}

// ^Z (or SIGTSTP from anyone): the whole sandbox stops (init sends SIGSTOP to everything in
// it), the terminal gets its settings back, and we stop as any job would; our shell's `fg` or
// `bg` continues us, then the sandbox. If no shell can continue us (our process group is
// orphaned), the kernel discards the stop, as it would for the command itself.
void suspend(sandbox::Child& child, ExecTerminal& terminal) {
  child.signal(SIGTSTP);
  terminal.release();
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTSTP);
  ::signal(SIGTSTP, SIG_DFL);
  ::sigprocmask(SIG_UNBLOCK, &stop, nullptr);
  ::kill(::getpid(), SIGTSTP);  // stops here until SIGCONT
  ::sigprocmask(SIG_BLOCK, &stop, nullptr);
  terminal.reclaim();
  child.signal(SIGCONT);
}

}  // namespace

int cmd_exec(int argc, char** argv) {
  CLI::App app{"Run one command in a sandbox and exit with its status.", "bulkhead exec"};
  LimitOptions limits;
  std::string profile_name = "default";
  std::string name = "sandbox";
  bool no_cgroups = false, require_isolation = false, quiet = false;
  std::vector<std::string> command;
  std::vector<std::string> forward_specs;
  app.add_option("--profile", profile_name, "Profile name or path to a profile JSON file")
      ->capture_default_str();
  add_limit_options(app, limits);
  app.add_option("--name", name, "Sandbox name: its hostname and cgroup")->capture_default_str();
  app.add_flag("--no-cgroups", no_cgroups, "Do not use cgroups (rlimits only)");
  std::string image;
  app.add_option("--image", image,
                 "dir:PATH: use this root filesystem as / instead of the host's (see images/)");
  app.add_flag("--require-isolation", require_isolation,
               "Refuse to run when any isolation is unavailable");
  app.add_flag("-q,--quiet", quiet, "Do not print what could not be isolated or forwarded");
  app.add_option("--forward", forward_specs,
                 "Reach a host service from inside (repeatable): PORT, PORT=HOST:PORT, "
                 "PORT=unix:PATH, unix:INSIDE=unix:PATH, or auto (see docs/services.md)")
      ->type_name("SPEC")
      ->allow_extra_args(false);
  app.add_option("command", command, "The command and its arguments (after --)")->required();
  app.footer(
      "Exit status: the command's own; 128+N when killed by signal N (SG); 121 memory limit "
      "(OOM); 122 pids limit (PIDS); 124 timeout (TO); 125 bulkhead failed (XX); 126/127 "
      "command not executable / not found.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitSandboxError;
  }

  try {
    sandbox::SandboxOptions options;
    options.profile = sandbox::load_profile(profile_name, {data_dir() + "/profiles"});
    apply_limit_options(limits, options.profile.limits);
    options.run_id = make_run_id();
    options.use_cgroups = !no_cgroups;
    if (!image.empty()) {
      try {
        options.image_root = parse_image(image);
      } catch (const UserError& e) {
        throw UserError(std::string("--image: ") + e.what());
      }
    }
    options.require_isolation = require_isolation || options.profile.require_isolation;

    // Our own signals arrive through a signalfd. Most are forwarded to the sandbox (from
    // `kill`, or from a terminal the command does not hold); SIGTSTP suspends the sandbox and
    // us, SIGCONT resumes, SIGWINCH resizes the command's pty.
    sigset_t handled;
    sigemptyset(&handled);
    for (int sig :
         {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTSTP, SIGCONT}) {
      sigaddset(&handled, sig);
    }
    sigprocmask(SIG_BLOCK, &handled, nullptr);
    UniqueFd signal_fd(::signalfd(-1, &handled, SFD_CLOEXEC));
    if (!signal_fd) throw_errno("signalfd");

    ExecTerminal terminal;
    if (!terminal.unavailable().empty() && options.require_isolation) {
      throw UserError("isolation required but not available: " + terminal.unavailable());
    }
    auto sandbox = sandbox::Sandbox::create(options);
    sandbox::SpawnSpec spec;
    spec.name = name;
    spec.argv = command;
    for (char** e = environ; *e != nullptr; ++e) spec.env.emplace_back(*e);
    spec.stdin_fd = terminal.payload_fd(0) >= 0 ? terminal.payload_fd(0) : 0;
    spec.stdout_fd = terminal.payload_fd(1);
    spec.stderr_fd = terminal.payload_fd(2);
    spec.controlling_terminal = terminal.active();
    std::vector<services::ForwardRequest> requests;
    for (const auto& forward : options.profile.forwards) {
      requests.push_back({forward, "profile network.forward"});
    }
    for (const auto& forward : forward_specs) requests.push_back({forward, "--forward"});
    services::Forwarding forwarding(requests, {spec.env});
    spec.listeners = forwarding.listeners();
    forwarding.start();
    auto child = sandbox->spawn(spec);
    forwarding.attach(0, child->take_listeners());
    if (!quiet) {
      for (const auto& missing : sandbox->isolation().missing) {
        std::fprintf(stderr, "bulkhead: not isolated: %s\n", missing.c_str());
      }
      if (!terminal.unavailable().empty()) {
        std::fprintf(stderr, "bulkhead: not isolated: %s\n", terminal.unavailable().c_str());
      }
      for (const auto& line : forwarding.notes()) {
        std::fprintf(stderr, "bulkhead: forward: %s\n", line.c_str());
      }
    }
    terminal.started();

    const auto& timeout = options.profile.limits.worker_timeout_s;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(timeout.value_or(0) * 1000));
    bool timed_out = false;
    std::vector<pollfd> fds;
    for (;;) {
      int wait_ms = terminal.poll_timeout_ms();
      if (timeout) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          timed_out = true;
          child->kill();
          break;
        }
        wait_ms = wait_ms < 0 ? static_cast<int>(left.count())
                              : std::min(wait_ms, static_cast<int>(left.count()));
      }
      fds = {{child->pidfd(), POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
      terminal.add_poll_fds(fds);
      int n = ::poll(fds.data(), fds.size(), wait_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("poll");
      if (fds[0].revents != 0) break;
      terminal.after_poll(fds, 2);
      if (fds[1].revents != 0) {
        struct signalfd_siginfo si;
        if (::read(signal_fd.get(), &si, sizeof si) != sizeof si) continue;
        const int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGTSTP) {
          suspend(*child, terminal);
        } else if (sig == SIGCONT) {
          terminal.reclaim();
          child->signal(SIGCONT);
        } else if (sig == SIGWINCH && terminal.active()) {
          terminal.resize();
        } else {
          child->signal(sig);
        }
      }
    }
    const sandbox::ExitInfo info = child->wait();
    forwarding.stop();
    terminal.drain();
    terminal.release();
    return report_end(info, timed_out, timeout.value_or(0));
  } catch (const sandbox::ProfileError& e) {
    std::fprintf(stderr, "bulkhead exec: profile error: %s\n", e.what());
  } catch (const UserError& e) {
    std::fprintf(stderr, "bulkhead exec: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bulkhead exec: %s\n", e.what());
  }
  return kExitSandboxError;
}

}  // namespace bulkhead

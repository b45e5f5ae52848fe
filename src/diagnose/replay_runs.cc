// Replay sub-runs as child processes; see replay_runs.h.
#include "src/diagnose/replay_runs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "sandbox/error.h"
#include "src/host/host_spawn.h"

namespace bulkhead {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTermGrace = std::chrono::seconds(15);  // a sub-run cleans its sandboxes up

std::string read_all(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// The last `lines` lines of `text`.
std::string tail(const std::string& text, int lines) {
  std::size_t at = text.size();
  if (at > 0 && text[at - 1] == '\n') --at;
  for (int seen = 0; at > 0; --at) {
    if (text[at - 1] == '\n' && ++seen == lines) break;
  }
  return text.substr(at);
}

// The arguments of a sub-run: the recorded ones with ours before any `--`.
std::vector<std::string> sub_run_argv(const std::string& self, const ReplayTarget& target,
                                      const std::vector<std::string>& ours) {
  std::vector<std::string> argv = {self};
  auto rest = target.argv.begin() + (target.argv.empty() ? 0 : 1);
  auto dashes = std::find(rest, target.argv.end(), std::string("--"));
  argv.insert(argv.end(), rest, dashes);
  argv.insert(argv.end(), ours.begin(), ours.end());
  argv.insert(argv.end(), target.extra_args.begin(), target.extra_args.end());
  argv.insert(argv.end(), dashes, target.argv.end());
  return argv;
}

struct Child {
  pid_t pid = -1;
  UniqueFd pidfd;
  std::optional<Clock::time_point> kill_at;
  bool done = false;
  int status = -1;
};

// A sub-run in its own process group (a terminal's ^C reaches us; we stop it), in `cwd`,
// stdout and stderr to `log`.
void spawn(const std::vector<std::string>& args, const std::string& cwd, const std::string& log,
           Child& child) {
  UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) throw_errno("open(" + log + ")");
  HostSpawn spawn;
  spawn.path = args[0];
  spawn.argv = args;
  spawn.cwd = cwd;
  spawn.stdout_path = spawn.stderr_path = log;
  const int error = spawn_in_own_group(spawn, child.pid);
  if (error != 0) throw SysError("posix_spawn(" + args[0] + ") in " + cwd, error);
  child.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0)));
  if (!child.pidfd) {
    const int saved = errno;
    ::kill(-child.pid, SIGKILL);
    ::waitpid(child.pid, nullptr, 0);
    child.pid = -1;
    throw SysError("pidfd_open", saved);
  }
}

void reap(Child& child) {
  int status = 0;
  if (::waitpid(child.pid, &status, 0) == child.pid) {
    child.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  child.done = true;
  child.pidfd.reset();
}

// Stops every child still running: SIGTERM to its group, SIGKILL after the grace; waits.
void stop_all(std::vector<Child>& children) {
  for (Child& child : children) {
    if (child.pid > 0 && !child.done) ::kill(-child.pid, SIGTERM);
  }
  const auto kill_at = Clock::now() + kTermGrace;
  for (Child& child : children) {
    if (child.pid <= 0 || child.done) continue;
    while (!child.done) {
      pollfd entry{child.pidfd.get(), POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - Clock::now());
      if (left.count() <= 0) {
        ::kill(-child.pid, SIGKILL);
        reap(child);
      } else if (::poll(&entry, 1, static_cast<int>(left.count())) > 0) {
        reap(child);
      }
    }
  }
}

// Stops and reaps what is left when a batch ends early (an exception).
struct ChildrenGuard {
  std::vector<Child>& children;
  ~ChildrenGuard() { stop_all(children); }
};

}  // namespace

bool failing_outcome(const std::string& outcome) {
  return outcome == "failed" || outcome == "error";
}

std::vector<std::string> replay_command(const ReplayTarget& target, const std::string& list_path) {
  std::vector<std::string> argv =
      sub_run_argv(target.argv.empty() ? "bulkhead" : target.argv[0], target,
                   {"--replay", list_path, "--replay-worker", target.worker});
  return argv;
}

ReplayRunner::ReplayRunner(std::string self, std::string scratch)
    : self_(std::move(self)), scratch_(std::move(scratch)) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &mask, &previous_mask_) != 0) throw_errno("sigprocmask");
  signal_fd_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_) {
    const int saved = errno;
    ::sigprocmask(SIG_SETMASK, &previous_mask_, nullptr);
    throw SysError("signalfd", saved);
  }
}

ReplayRunner::~ReplayRunner() { ::sigprocmask(SIG_SETMASK, &previous_mask_, nullptr); }

std::vector<ReplayOutcome> ReplayRunner::run(
    const ReplayTarget& target, const std::vector<std::vector<std::string>>& sequences) {
  std::vector<ReplayOutcome> outcomes(sequences.size());
  if (interrupted_) return outcomes;
  std::vector<Child> children(sequences.size());
  std::vector<std::string> reports(sequences.size());
  ChildrenGuard guard{children};
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const std::string base = scratch_ + "/replay-" + std::to_string(++count_);
    {
      std::ofstream list(base + ".txt");
      for (const std::string& nodeid : sequences[i]) list << nodeid << '\n';
      if (!list.flush()) throw UserError("cannot write the replay list " + base + ".txt");
    }
    reports[i] = base + ".json";
    outcomes[i].log = base + ".log";
    // Our report only: the recorded run's own reports stay as they are.
    const std::vector<std::string> ours = {"--replay",
                                           base + ".txt",
                                           "--replay-worker",
                                           target.worker,
                                           "-n",
                                           std::to_string(target.workers),
                                           "--json",
                                           reports[i],
                                           "--junitxml",
                                           "",
                                           "--html",
                                           "",
                                           "--trace",
                                           "",
                                           "--color",
                                           "no"};
    spawn(sub_run_argv(self_, target, ours), target.cwd, outcomes[i].log, children[i]);
  }
  for (;;) {
    std::vector<pollfd> watched = {{signal_fd_.get(), POLLIN, 0}};
    std::vector<std::size_t> owner;
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (children[i].done) continue;
      watched.push_back({children[i].pidfd.get(), POLLIN, 0});
      owner.push_back(i);
    }
    if (owner.empty()) break;
    if (::poll(watched.data(), watched.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (watched[0].revents & POLLIN) {
      signalfd_siginfo info{};
      while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
      }
      interrupted_ = true;
      stop_all(children);
      break;
    }
    for (std::size_t k = 1; k < watched.size(); ++k) {
      if (watched[k].revents) reap(children[owner[k - 1]]);
    }
  }
  for (std::size_t i = 0; i < children.size(); ++i) {
    ReplayOutcome& out = outcomes[i];
    out.exit_code = children[i].status;
    try {
      const nlohmann::json report = nlohmann::json::parse(read_all(reports[i]));
      for (const nlohmann::json& test : report.at("tests")) {
        if (test.at("nodeid").get<std::string>() != target.nodeid) continue;
        out.cause = test.value("cause", "");
        out.outcome = out.cause == "notrun" ? "" : test.value("outcome", "");
      }
      if (out.outcome.empty()) out.problem = target.nodeid + " did not run";
    } catch (const std::exception&) {
      out.problem = "it wrote no report (exit status " + std::to_string(out.exit_code) + ")";
    }
    if (!out.problem.empty()) {
      const std::string end = tail(read_all(out.log), 6);
      if (!end.empty()) out.problem += "; its output ends:\n" + end;
    }
  }
  return outcomes;
}

}  // namespace bulkhead

// Running setup and teardown commands (see shell_commands.h).
#include "src/services/shell_commands.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "src/host/host_spawn.h"

namespace bulkhead::services {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kTermGrace = std::chrono::seconds(3);  // SIGTERM, then SIGKILL
constexpr std::size_t kTailBytes = 2048;
constexpr int kTailLines = 15;

std::string read_tail(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return "";
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(kTailBytes)
                                   ? size - static_cast<std::streamoff>(kTailBytes)
                                   : 0;
  file.seekg(start);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (start > 0) {
    if (auto newline = text.find('\n'); newline != std::string::npos) text.erase(0, newline + 1);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::size_t cut = text.size();
  for (int lines = 0; lines < kTailLines && cut != std::string::npos && cut > 0; ++lines) {
    cut = text.rfind('\n', cut - 1);
  }
  if (cut != std::string::npos && cut > 0) text.erase(0, cut + 1);
  return text;
}

std::string read_all(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

bool is_name(const std::string& text) {
  if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
  return buffer;
}

// One running command.
struct Running {
  pid_t pid = -1;
  UniqueFd pidfd;
  Clock::time_point started;
  std::optional<Clock::time_point> kill_at;  // SIGKILL the group then
  bool done = false;
};

// posix_spawn of `sh -c` in a new process group, stdout/stderr to files, no blocked signals.
void start(const ShellCommand& command, Running& running, CommandResult& result) {
  const std::string env_file = command.log_base + ".env";
  for (const char* suffix : {".out", ".err", ".env"}) {
    UniqueFd fd(::open((command.log_base + suffix).c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) {
      result.error = "cannot create " + command.log_base + suffix + ": " + std::strerror(errno);
      return;
    }
  }
  std::vector<std::string> env = command.env;
  env.push_back("BULKHEAD_ENV=" + env_file);
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  HostSpawn spawn;
  spawn.path = "/bin/sh";
  spawn.argv = {"sh", "-c", command.command};
  spawn.envp = envp.data();
  spawn.stdout_path = command.log_base + ".out";
  spawn.stderr_path = command.log_base + ".err";
  const int error = spawn_in_own_group(spawn, running.pid);
  if (error != 0) {
    result.error = std::string("cannot start /bin/sh: ") + std::strerror(error);
    return;
  }
  running.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, running.pid, 0)));
  running.started = Clock::now();
  if (!running.pidfd) {  // cannot watch it: wait for it here (still bounded by nothing else)
    result.error = std::string("pidfd_open: ") + std::strerror(errno);
    ::kill(-running.pid, SIGKILL);
    ::waitpid(running.pid, nullptr, 0);
    running.pid = -1;
  }
}

void finish(const ShellCommand& command, Running& running, CommandResult& result) {
  siginfo_t info{};
  ::waitid(P_PIDFD, static_cast<id_t>(running.pidfd.get()), &info, WEXITED);
  running.done = true;
  running.pidfd.reset();
  result.seconds = std::chrono::duration<double>(Clock::now() - running.started).count();
  if (info.si_code == CLD_EXITED) {
    result.exit_code = info.si_status;
  } else {
    result.term_signal = info.si_status;
  }
  // Whatever it started in its group must not outlive a command we stopped.
  if (result.timed_out || result.interrupted) ::kill(-running.pid, SIGKILL);
  result.stderr_tail = read_tail(command.log_base + ".err");
  result.ok = result.exit_code == 0 && !result.timed_out && !result.interrupted;
  // Read even after a failure: the teardown gets what a half-done setup wrote.
  try {
    result.env_out = parse_env_lines(read_all(command.log_base + ".env"));
  } catch (const UserError& error) {
    if (result.ok) result.error = std::string("it wrote to $BULKHEAD_ENV ") + error.what();
    result.ok = false;
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_env_lines(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto equals = line.find('=');
    const std::string key = equals == std::string::npos ? "" : line.substr(0, equals);
    if (!is_name(key)) {
      throw UserError("line " + std::to_string(number) + " '" + line +
                      "': expected KEY=VALUE with KEY made of letters, digits and _");
    }
    if (key.rfind("BULKHEAD_", 0) == 0 || key.rfind("PYTEST_XDIST_", 0) == 0) {
      throw UserError("line " + std::to_string(number) + ": " + key +
                      " is bulkhead's own and cannot be set");
    }
    out.emplace_back(key, line.substr(equals + 1));
  }
  return out;
}

std::string describe_failure(const ShellCommand& command, const CommandResult& result) {
  std::string text = command.label + " `" + command.command + "`";
  if (!result.error.empty() && result.exit_code == 0) {
    text += ": " + result.error;
  } else if (!result.error.empty() && result.exit_code < 0 && result.term_signal == 0) {
    text += ": " + result.error;
  } else if (result.timed_out) {
    text += " timed out after " + seconds_text(result.seconds) + " and was killed";
  } else if (result.interrupted) {
    text += " was stopped by an interrupt after " + seconds_text(result.seconds);
  } else if (result.term_signal != 0) {
    text += " was killed by signal " + std::to_string(result.term_signal) + " after " +
            seconds_text(result.seconds);
  } else {
    text += " exited with status " + std::to_string(result.exit_code) + " after " +
            seconds_text(result.seconds);
  }
  if (!result.stderr_tail.empty()) {
    text += "; its stderr ends:";
    std::istringstream lines(result.stderr_tail);
    std::string line;
    while (std::getline(lines, line)) text += "\n    " + line;
  } else if (result.error.empty()) {
    text += " (no stderr)";
  }
  return text;
}

std::vector<CommandResult> run_shell_commands(const std::vector<ShellCommand>& commands,
                                              double timeout_s, int signal_fd, OnSignal on_signal) {
  std::vector<CommandResult> results(commands.size());
  std::vector<Running> running(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) start(commands[i], running[i], results[i]);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_s));
  int signals_seen = 0;
  auto stop_all = [&](bool timed_out) {
    const auto now = Clock::now();
    for (std::size_t i = 0; i < running.size(); ++i) {
      if (running[i].pid < 0 || running[i].done || running[i].kill_at) continue;
      (timed_out ? results[i].timed_out : results[i].interrupted) = true;
      ::kill(-running[i].pid, SIGTERM);
      running[i].kill_at = now + kTermGrace;
    }
  };
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> owners;
    std::optional<Clock::time_point> next = deadline;
    for (std::size_t i = 0; i < running.size(); ++i) {
      if (running[i].pid < 0 || running[i].done) continue;
      fds.push_back({running[i].pidfd.get(), POLLIN, 0});
      owners.push_back(i);
      if (running[i].kill_at && *running[i].kill_at < *next) next = running[i].kill_at;
    }
    if (fds.empty()) break;
    if (signal_fd >= 0) fds.push_back({signal_fd, POLLIN, 0});
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now());
    const int ready =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, left.count())));
    if (ready < 0 && errno != EINTR) throw_errno("poll(setup commands)");
    for (std::size_t k = 0; k < owners.size(); ++k) {
      if (fds[k].revents != 0) finish(commands[owners[k]], running[owners[k]], results[owners[k]]);
    }
    if (signal_fd >= 0 && fds.back().revents != 0) {
      signalfd_siginfo info{};
      while (::read(signal_fd, &info, sizeof info) == sizeof info) {
        ++signals_seen;
        if (on_signal == OnSignal::Stop || signals_seen > 1) {
          stop_all(false);
        } else {
          std::fprintf(stderr,
                       "bulkhead: %s received; teardown goes on (at most %.0f s); interrupt "
                       "again to stop it\n",
                       info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", timeout_s);
        }
      }
    }
    const auto now = Clock::now();
    if (now >= deadline) stop_all(true);
    for (std::size_t i = 0; i < running.size(); ++i) {
      if (running[i].kill_at && now >= *running[i].kill_at && !running[i].done) {
        ::kill(-running[i].pid, SIGKILL);
        running[i].kill_at = now + std::chrono::hours(1);  // once
      }
    }
  }
  return results;
}

}  // namespace bulkhead::services

// Setup and teardown commands: each `sh -c COMMAND` on the host, in its own process group (a
// terminal's ^C does not reach it; we decide), with a given environment, stdout and stderr in
// log files, and $BULKHEAD_ENV naming a file where it may write KEY=VALUE lines for the
// workers. Several run at once; each is bounded by a timeout, after which its whole process
// group is killed. A command that leaves a daemon behind (pg_ctl start) ends when `sh` does.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace bulkhead::services {

struct ShellCommand {
  std::string label;             // "setup", "worker setup (gw1)": for messages
  std::string command;           // templates already expanded
  std::vector<std::string> env;  // complete environment (BULKHEAD_ENV is added)
  std::string log_base;          // writes <log_base>.out, .err, .env
};

struct CommandResult {
  bool ok = false;
  int exit_code = -1;   // when it exited
  int term_signal = 0;  // when a signal ended it
  bool timed_out = false;
  bool interrupted = false;  // SIGINT/SIGTERM reached bulkhead and the command was stopped
  double seconds = 0;
  std::string error;        // could not start, or a malformed $BULKHEAD_ENV line
  std::string stderr_tail;  // last lines of its stderr
  std::vector<std::pair<std::string, std::string>> env_out;  // from $BULKHEAD_ENV, even if failed
};

// "setup `createdb app` exited with status 1 after 0.2 s; its stderr ends:\n    ..."
std::string describe_failure(const ShellCommand& command, const CommandResult& result);

enum class OnSignal {
  Stop,         // setup: SIGINT/SIGTERM stops every command (interrupted)
  FinishFirst,  // teardown: the first signal is noted, a second one stops them
};

// Runs `commands` at once and returns when each has ended, in the same order. `signal_fd`
// (a signalfd for SIGINT/SIGTERM, or -1) is watched meanwhile.
std::vector<CommandResult> run_shell_commands(const std::vector<ShellCommand>& commands,
                                              double timeout_s, int signal_fd, OnSignal on_signal);

// KEY=VALUE lines (blank lines and # comments skipped). Throws UserError naming the line.
std::vector<std::pair<std::string, std::string>> parse_env_lines(const std::string& text);

}  // namespace bulkhead::services

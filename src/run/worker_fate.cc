// Wording of timeouts, OOM kills and crashes for the reports (see worker_fate.h).
#include "src/run/worker_fate.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "sandbox/namespaces.h"

namespace bulkhead {
namespace {

// "SIGSEGV (Segmentation fault)".
std::string signal_text(int sig) {
  const char* description = strsignal(sig);
  return sandbox::signal_name(sig) + (description ? std::string(" (") + description + ")" : "");
}

}  // namespace

std::vector<std::string> distinct_startup_failures(const std::vector<std::string>& failures) {
  std::vector<std::string> shown, details;
  for (const std::string& failure : failures) {
    const std::string text = failure.substr(failure.find('\n') + 1);
    if (std::find(details.begin(), details.end(), text) != details.end()) continue;
    details.push_back(text);
    shown.push_back(failure);
  }
  return shown;
}

std::string format_seconds(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", seconds);
  return std::string(buffer) + "s";
}

std::string mebibytes(uint64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
  return buffer;
}

std::string describe_exit(const std::string& worker, const sandbox::ExitInfo& exit) {
  if (!exit.setup_error.empty())
    return "worker " + worker + " failed to start: " + exit.setup_error;
  if (exit.signaled) return "worker " + worker + " killed by " + signal_text(exit.term_signal);
  return "worker " + worker + " exited with status " + std::to_string(exit.exit_code);
}

Fate describe_fate(const FateInput& input) {
  const std::string log_note =
      input.log_path.empty() ? "" : "\n(full worker log: " + input.log_path + ")";
  Fate fate;
  if (input.timed_out || input.session_expired) {
    const bool session = input.session_expired && !input.timed_out;
    fate.cause = Cause::Timeout;
    fate.message = session
                       ? "Timeout: session timeout of " +
                             format_seconds(input.session_limit_s.value_or(0)) + " reached"
                       : "Timeout: test exceeded " + format_seconds(input.test_limit_s.value_or(0));
    const std::string stacks = input.stacks.empty()
                                   ? "(no Python stack: the worker did not answer SIGUSR1)\n"
                                   : input.stacks;
    fate.details = fate.message + "\n\nPython stacks of " + input.worker + " at the deadline:\n" +
                   stacks + log_note;
    return fate;
  }
  const std::string tail = input.stderr_tail.empty() ? "(nothing)\n" : input.stderr_tail;
  if (input.exit.oom_killed) {
    fate.cause = Cause::OOM;
    fate.message = "OOM: memory limit";
    if (input.exit.memory_limit_bytes)
      fate.message += " " + mebibytes(input.exit.memory_limit_bytes);
    fate.message += " exceeded";
    if (input.exit.memory_peak_bytes) {
      fate.message += " (peak " + mebibytes(input.exit.memory_peak_bytes) + ")";
    }
    fate.details = fate.message + "\n\nlast lines of " + input.worker + "'s stderr:\n" +
                   input.stderr_tail + log_note;
    return fate;
  }
  fate.cause = Cause::Crash;
  if (!input.protocol_error.empty()) {
    // The supervisor killed it for what it sent: say that first, naming the worker.
    fate.message = input.protocol_error + "; the supervisor killed " + input.worker;
    fate.message[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(fate.message[0])));
    fate.details = fate.message + "\n\nlast lines of " + input.worker + "'s stderr:\n" + tail;
    fate.details += log_note;
    return fate;
  }
  fate.message = "Crash: " + describe_exit(input.worker, input.exit);
  if (input.exit.pids_limit_hit) {
    fate.message += " (pids limit " + std::to_string(input.exit.pids_limit) + " reached)";
  }
  fate.details = fate.message + "\n\nlast lines of " + input.worker + "'s stderr:\n" + tail;
  if (input.message_cut_off) fate.details += "\n(the worker's last message was cut off mid-line)";
  fate.details += log_note;
  return fate;
}

void add_pids_limit_note(PhaseReport& phase, std::string& longrepr_color, uint64_t limit,
                         uint64_t hits) {
  const std::string note = "pids limit (" + std::to_string(limit) + ") reached";
  phase.message = note + ": " + phase.message;
  const std::string line = "\n[bulkhead] the worker's " + note +
                           " during this test: the kernel refused " + std::to_string(hits) +
                           " fork(s)\n";
  phase.longrepr += line;
  if (!longrepr_color.empty()) longrepr_color += line;
}

}  // namespace bulkhead

// Why a worker's running test ended outside pytest, in words: the cause (timeout, OOM,
// crash) with its message and details, from what the sandbox and the worker left behind.
// Pure: no I/O, so every wording is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"
#include "src/report/test_model.h"

namespace bulkhead {

struct FateInput {
  std::string worker;                  // "gw1"
  sandbox::ExitInfo exit;              // how its sandbox ended
  bool timed_out = false;              // the test's own deadline fired
  std::optional<double> test_limit_s;  // that deadline
  bool session_expired = false;        // --session-timeout fired
  std::optional<double> session_limit_s;
  std::string stacks;  // faulthandler's dump after SIGUSR1
  std::string stderr_tail;
  std::string protocol_error;    // "protocol error from gw1: ...": it was killed for it
  bool message_cut_off = false;  // its last channel line was incomplete
  std::string log_path;          // "" when logs are not kept
};

struct Fate {
  Cause cause = Cause::Crash;
  std::string message;  // one line: "OOM: memory limit 512 MiB exceeded (peak 512 MiB)"
  std::string details;  // the longrepr: message, stacks or stderr tail, log path
};

Fate describe_fate(const FateInput& input);

// "worker gw1 killed by SIGSEGV (Segmentation fault)", "... exited with status 3",
// "... failed to start: <setup error>".
// pytest's ExitCode.USAGE_ERROR: a command line (or ini) pytest refuses, the same in every worker.
constexpr int kPytestUsageError = 4;

std::string describe_exit(const std::string& worker, const sandbox::ExitInfo& exit);

// Workers that die before collecting usually die the same way (a bad option, a broken
// conftest): each failure ("headline\ndetails") once per distinct details.
std::vector<std::string> distinct_startup_failures(const std::vector<std::string>& failures);

// A failed phase of a test during which the sandbox refused `hits` forks at pids.max: the
// message and longrepr (and its coloured form, when set) say so.
void add_pids_limit_note(PhaseReport& phase, std::string& longrepr_color, uint64_t limit,
                         uint64_t hits);

std::string format_seconds(double seconds);  // "5s", "1.5s"
std::string mebibytes(uint64_t bytes);       // "512 MiB"

}  // namespace bulkhead

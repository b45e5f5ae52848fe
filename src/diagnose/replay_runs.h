// Replays as child `bulkhead run --replay` processes (repro, bisect): the recorded command line
// in the recorded directory with the sequence to replay and the worker id, several at once,
// each in its own process group with its output in a log; the tested test's outcome read back
// from the JSON report each writes. SIGINT/SIGTERM to us stop them all (SIGTERM, then SIGKILL
// after a grace) and end the batch as interrupted.
#pragma once

#include <signal.h>

#include <string>
#include <vector>

#include "sandbox/fd.h"

namespace bulkhead {

// What a replay reproduces: a recorded run's command line and one test of it.
struct ReplayTarget {
  std::vector<std::string> argv;  // the recorded `bulkhead run ...`, argv[0] included
  std::string cwd;                // where it ran
  std::string worker;             // the worker id of the test's sandbox: "gw1"
  int workers = 1;                // the recorded run's worker count (PYTEST_XDIST_WORKER_COUNT)
  std::string nodeid;             // the test, last of every sequence
  // Added to the command line: what the run gave its workers beyond it (the pytest-randomly
  // seed bulkhead chose).
  std::vector<std::string> extra_args;
};

// The command a user types to replay the list in `list_path`: the recorded command line with
// --replay, --replay-worker and the extra arguments inserted before any `--`.
std::vector<std::string> replay_command(const ReplayTarget& target, const std::string& list_path);

struct ReplayOutcome {
  std::string outcome;  // the test's overall outcome ("failed", "passed", ...); "" not run
  std::string cause;    // "", timeout, crash, oom, notrun
  int exit_code = -1;   // the sub-run's exit status; -1 when a signal ended it
  std::string log;      // the sub-run's output (stdout and stderr)
  std::string problem;  // why there is no outcome: the sub-run's error (its stderr's end)
};

class ReplayRunner {
 public:
  // `self` is the bulkhead binary the sub-runs start; their files go under `scratch` (which
  // must exist). Blocks SIGINT and SIGTERM into a signalfd until destroyed.
  ReplayRunner(std::string self, std::string scratch);
  ~ReplayRunner();
  ReplayRunner(const ReplayRunner&) = delete;
  ReplayRunner& operator=(const ReplayRunner&) = delete;

  // Runs each sequence (node ids, the test last) as one replay, all at once, and returns their
  // outcomes in the same order. After an interrupt it runs nothing more and returns at once.
  std::vector<ReplayOutcome> run(const ReplayTarget& target,
                                 const std::vector<std::vector<std::string>>& sequences);
  bool interrupted() const { return interrupted_; }
  int replays() const { return count_; }

 private:
  std::string self_;
  std::string scratch_;
  UniqueFd signal_fd_;
  sigset_t previous_mask_;
  bool interrupted_ = false;
  int count_ = 0;
};

// Whether an outcome is a failure ("failed", "error").
bool failing_outcome(const std::string& outcome);

}  // namespace bulkhead

// What `bulkhead repro` and `bulkhead bisect` work from, once read out of a run record: the
// recorded command line and the test's sandbox (worker id, the tests it ran before the test),
// plus what both say and keep: the replay lists their printed commands name, and the statuses
// they exit with (docs/cli.md).
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "src/diagnose/replay_runs.h"

namespace bulkhead {

// Exit statuses of repro and bisect.
constexpr int kDiagnoseConsistent = 1;      // fails alone (repro); nothing to bisect (bisect)
constexpr int kDiagnoseBadInput = 2;        // no record, unknown run or node id (as `show`)
constexpr int kDiagnoseReplayFailed = 3;    // a replay could not run: its error is said
constexpr int kDiagnoseUsage = 4;           // bad options
constexpr int kDiagnoseOrderDependent = 6;  // repro: fails only after its predecessors
constexpr int kDiagnoseFlaky = 7;           // the replay did not bring the failure back
constexpr int kDiagnoseInterrupted = 130;   // SIGINT/SIGTERM: the replays were stopped

struct Diagnosis {
  ReplayTarget target;
  std::string run_id;
  std::string recorded_outcome;           // the test's outcome in the run: failed, error, ...
  std::string recorded_cause;             // "", timeout, crash, oom
  int sandbox = 0;                        // which sandbox of the worker (0 the first)
  std::vector<std::string> predecessors;  // node ids its sandbox ran before it, in order
  std::string python;                     // the run's interpreter (for the plain pytest line)
  std::string lists_dir;  // keeps the replay lists the printed commands name (made on demand)
};

// A replay that could not run (exit kDiagnoseReplayFailed), or an interrupt (kDiagnoseInterrupted).
class DiagnoseStop : public std::runtime_error {
 public:
  DiagnoseStop(const std::string& what, int status) : std::runtime_error(what), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// "failed in run 1a2b3c4d (worker gw1, sandbox 0, after 57 tests)".
std::string describe_recorded(const Diagnosis& diagnosis);

// Writes `nodeids` to <lists_dir>/<kind>-<the test, as a file name>.txt (one per line) and
// returns the path: the printed commands name it, so it outlives the command.
std::string keep_list(const Diagnosis& diagnosis, const std::string& kind,
                      const std::vector<std::string>& nodeids);

// A scratch directory for the replays' lists, reports and logs; removed when destroyed.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The bulkhead binary running now (/proc/self/exe), for the sub-runs.
std::string self_executable();

}  // namespace bulkhead

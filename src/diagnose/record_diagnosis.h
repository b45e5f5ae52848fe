// From a run record to what `bulkhead repro` and `bulkhead bisect` replay: the run (the last
// one by default), the test in it, its sandbox's sequence, the recorded command line, and the
// variables whose value now differs from the one the test's worker had.
#pragma once

#include <string>
#include <vector>

#include "src/diagnose/diagnosis.h"
#include "src/diagnose/env_diff.h"

namespace bulkhead {

struct RecordedFailure {
  Diagnosis diagnosis;
  bool failed = false;             // failed or error in the run: something to reproduce
  std::vector<EnvDifference> env;  // the current env against the worker's recorded one
  std::string env_note;            // why env could not be compared fully, or ""
  std::string commit_note;         // the checkout's commit differs from the recorded one, or ""
};

// Reads run `run` ("" the newest; a unique prefix) of `runs_dir` and the test `nodeid` in it.
// A cwd recorded relative to the rootdir is taken relative to the project holding `runs_dir`
// (<project>/.bulkhead/runs), so a record copied into another checkout replays there.
// Throws DiagnoseStop(kDiagnoseBadInput) naming the directory, run or node id that is missing
// (for a node id, the run's node ids that contain it, if any), or a damaged record's file.
RecordedFailure read_recorded_failure(const std::string& runs_dir, const std::string& run,
                                      const std::string& nodeid);

}  // namespace bulkhead

// `bulkhead bisect`: for an order-dependent failure, the smallest set of the tests its sandbox
// ran before it that makes it fail: delta debugging (delta_debug.h) over the recorded
// sequence, each round's candidate sequences replayed at once in `width` sandboxes. Prints the
// polluter(s), the rounds, replays and time it took, and a one-line command that reproduces
// the failure with just them.
#pragma once

#include <cstdio>

#include "src/diagnose/delta_debug.h"
#include "src/diagnose/diagnosis.h"

namespace bulkhead {

struct BisectReport {
  BisectOutcome outcome;
  std::vector<std::string> polluters;  // node ids, in their recorded order (Found)
  double seconds = 0;
  int status = 0;  // the exit status (diagnosis.h)
};

// The trial a replay's outcome is: the failure came back, the test passed, or neither.
Trial trial_of(const ReplayOutcome& outcome);

// Bisects through `runner`, `width` replays at a time, printing to `out`. Throws DiagnoseStop
// when a replay could not run or was interrupted.
BisectReport run_bisect(const Diagnosis& diagnosis, ReplayRunner& runner, int width,
                        std::FILE* out);

}  // namespace bulkhead

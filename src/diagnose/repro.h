// `bulkhead repro`: replays the recorded sequence of the test's sandbox up to and including
// it (same worker id), and the test alone in a fresh sandbox, at once; then says whether the
// failure is consistent (fails alone), order-dependent (fails only after its predecessors) or
// flaky (the replay does not bring it back), with the commands that show it.
#pragma once

#include <cstdio>

#include "src/diagnose/diagnosis.h"

namespace bulkhead {

enum class ReproVerdict { Consistent, OrderDependent, Flaky };

// The verdict from the two replays' failures.
ReproVerdict repro_verdict(bool replay_failed, bool alone_failed);

// Runs both replays through `runner`, prints to `out`, returns the exit status (diagnosis.h).
// Throws DiagnoseStop when a replay could not run or was interrupted.
int run_repro(const Diagnosis& diagnosis, ReplayRunner& runner, std::FILE* out);

}  // namespace bulkhead

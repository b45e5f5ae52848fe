// This machine's run records as a durations source: what recent runs measured per test orders
// the next run's work (long tests first) when `.test_durations` does not know a test. Never used
// to split shards: records are local, and every shard must compute the same partition.
#pragma once

#include <cstddef>
#include <string>

#include "src/shard/durations.h"

namespace bulkhead {

// Per node id, the duration the newest of the last `runs` records in `runs_dir` measured (the
// run's own attempt; tests that never ran, crashed or were killed with their worker are left
// out, a timeout's time is kept: it says the test is long). Unreadable records are skipped;
// empty when there are none.
DurationSource recorded_durations(const std::string& runs_dir, std::size_t runs = 5);

// `file`'s durations, then what `recorded` knows of the tests `file` does not (a hashed table
// when both have some: an ordering hint).
DurationSource with_recorded_durations(DurationSource file, DurationSource recorded);

}  // namespace bulkhead

// Test durations: pytest-split's `.test_durations` file, read and written in its own format (so
// users switch without re-measuring), measured durations from a run's records, and the
// per-test expectations the shard partition and the scheduler work from (the median for tests
// without a duration).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/report/result_store.h"
#include "src/report/test_model.h"
#include "src/run/units.h"
#include "src/shard/duration_table.h"

namespace bulkhead {

// Seconds per node id, as pytest-split stores them (every phase summed).
using DurationMap = std::map<std::string, double>;

// Reads pytest-split's file: a JSON object {"nodeid": seconds, ...}, or the list of
// [nodeid, seconds] pairs its older versions wrote. nullopt when the file does not exist.
// Throws UserError naming the path and what is wrong (bad JSON, a non-number, a negative).
std::optional<DurationMap> read_test_durations(const std::string& path);

// The file as pytest-split writes it (Python's json.dump(sort_keys=True, indent=4)): keys
// sorted, four-space indent, non-ASCII escaped, no trailing newline.
std::string render_test_durations(const DurationMap& durations);

// What --store-durations writes: `measured` over what `path` held (pytest-split's update, so
// tests not run this time keep their old value), written atomically. Throws SysError/UserError.
void store_test_durations(const std::string& path, const DurationMap& measured);

// Durations a run measured, as pytest-split counts them: per test the sum of its phases'
// durations, leaving out negative ones and setup/teardown phases over 600 s (clock jumps).
// Tests with no phase (never ran) are absent.
DurationMap measured_durations(const ResultStore& records);

// What is known about the tests' durations (sorted: ready for find()), and where from.
struct DurationSource {
  DurationTable tests;
  std::string description;  // ".test_durations", "run records (.bulkhead/runs)", ...
};

// pytest-split's file at `path` as an exact source (described by `path` as given); empty when
// missing.
DurationSource load_test_durations(const std::string& path);

// Expected seconds per collected item: its known total, else the median of the known ones.
// Empty vectors when no collected test has a duration (then the work is split by count).
struct Estimates {
  std::vector<double> expected_s;  // per item
  std::vector<double> order_s;     // per item: the call time where known, else expected_s;
                                   // empty when no item has a call time (then: expected_s)
  std::size_t known = 0;           // items with a duration of their own
  double median_s = 0;             // what the others got
  double total_s = 0;
};
Estimates estimate(const std::vector<ScheduledItem>& items, const DurationSource& source);

}  // namespace bulkhead

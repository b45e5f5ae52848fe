// This machine's run records as a durations source (see record_durations.h).
#include "src/shard/record_durations.h"

#include <utility>
#include <vector>

#include "src/record/run_record.h"

namespace bulkhead {

DurationSource recorded_durations(const std::string& runs_dir, std::size_t runs) {
  DurationSource source;
  std::size_t used = 0;
  for (const std::string& id : record::list_runs(runs_dir)) {
    if (used == runs) break;
    // Only what is kept of each test, not the run's RecordedTests, until the run reads whole.
    std::vector<std::pair<std::string, double>> measured;
    try {
      record::read_run(runs_dir, id, [&measured](record::RecordedTest&& test) {
        if (test.attempt != 0 || test.stop <= test.start || test.start <= 0) return;
        if (test.cause == "notrun" || test.cause == "crash" || test.cause == "oom") return;
        measured.emplace_back(std::move(test.nodeid), test.stop - test.start);
      });
    } catch (const std::exception&) {
      continue;  // damaged or still being written: `bulkhead runs` says so, not this
    }
    ++used;
    for (auto& [nodeid, seconds] : measured) {
      // Newest first: an older record never replaces what a newer one measured.
      source.tests.try_emplace(std::move(nodeid), KnownDuration{seconds, std::nullopt});
    }
  }
  if (!source.tests.empty()) {
    source.description = "run records (" + runs_dir + ", the last " + std::to_string(used) +
                         (used == 1 ? " run)" : " runs)");
  }
  return source;
}

DurationSource with_recorded_durations(DurationSource file, DurationSource recorded) {
  if (file.tests.empty() && !recorded.tests.empty()) return recorded;  // no copy of every test
  const std::size_t before = file.tests.size();
  file.tests.merge(recorded.tests);  // moves the nodes `file` lacks
  const std::size_t added = file.tests.size() - before;
  if (added == 0) return file;
  file.description = file.tests.size() == added ? recorded.description
                                                : file.description + " and " + recorded.description;
  return file;
}

}  // namespace bulkhead

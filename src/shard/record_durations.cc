// This machine's run records as a durations source (see record_durations.h).
#include "src/shard/record_durations.h"

#include <utility>

#include "src/record/run_record.h"

namespace bulkhead {

DurationSource recorded_durations(const std::string& runs_dir, std::size_t runs) {
  DurationSource source;
  std::size_t used = 0;
  for (const std::string& id : record::list_runs(runs_dir)) {
    if (used == runs) break;
    record::RunRecord run;
    try {
      run = record::read_run(runs_dir, id);
    } catch (const std::exception&) {
      continue;  // damaged or still being written: `bulkhead runs` says so, not this
    }
    ++used;
    for (const record::RecordedTest& test : run.tests) {
      if (test.attempt != 0 || test.stop <= test.start || test.start <= 0) continue;
      if (test.cause == "notrun" || test.cause == "crash" || test.cause == "oom") continue;
      // Newest first: an older record never replaces what a newer one measured.
      source.tests.try_emplace(test.nodeid, KnownDuration{test.stop - test.start, std::nullopt});
    }
  }
  if (!source.tests.empty()) {
    source.description = "run records (" + runs_dir + ", the last " + std::to_string(used) +
                         (used == 1 ? " run)" : " runs)");
  }
  return source;
}

DurationSource with_recorded_durations(DurationSource file, const DurationSource& recorded) {
  std::size_t added = 0;
  for (const auto& [nodeid, known] : recorded.tests)
    added += file.tests.try_emplace(nodeid, known).second;
  if (added == 0) return file;
  file.description = file.tests.size() == added ? recorded.description
                                                : file.description + " and " + recorded.description;
  return file;
}

}  // namespace bulkhead

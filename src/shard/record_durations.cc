// This machine's run records as a durations source (see record_durations.h).
#include "src/shard/record_durations.h"

#include <utility>

#include "src/record/run_record.h"

namespace bulkhead {

DurationSource recorded_durations(const std::string& runs_dir, std::size_t runs) {
  // Hashed: these durations only order the work (see duration_table.h), ~24 bytes a test.
  DurationSource source{DurationTable(DurationTable::Keys::kHashed), ""};
  std::size_t used = 0;
  for (const std::string& id : record::list_runs(runs_dir)) {
    if (used == runs) break;
    // Only what is kept of each test, not the run's RecordedTests, until the run reads whole.
    DurationTable measured(DurationTable::Keys::kHashed);
    try {
      record::read_run(runs_dir, id, [&measured](record::RecordedTest&& test) {
        if (test.attempt != 0 || test.stop <= test.start || test.start <= 0) return;
        if (test.cause == "notrun" || test.cause == "crash" || test.cause == "oom") return;
        measured.add(test.nodeid, {test.stop - test.start, std::nullopt});
      });
    } catch (const std::exception&) {
      continue;  // damaged or still being written: `bulkhead runs` says so, not this
    }
    ++used;
    // Newest first, and the first added wins: an older record never replaces a newer one.
    // Sorted run by run, so the duplicates of five records are never held at once.
    source.tests.append(std::move(measured));
    source.tests.sort();
  }
  if (!source.tests.empty()) {
    source.description = "run records (" + runs_dir + ", the last " + std::to_string(used) +
                         (used == 1 ? " run)" : " runs)");
  }
  return source;
}

DurationSource with_recorded_durations(DurationSource file, DurationSource recorded) {
  if (file.tests.empty() && !recorded.tests.empty()) return recorded;  // no copy of every test
  if (file.tests.covers(recorded.tests)) return file;
  // Hashed, as `recorded` is: the merged source only orders the work; the shard split reads
  // `file` alone.
  return DurationSource{DurationTable::overlay(file.tests, recorded.tests),
                        file.description + " and " + recorded.description};
}

}  // namespace bulkhead

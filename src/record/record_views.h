// What `bulkhead runs` and `bulkhead show` print from run records: pure text, no I/O.
#pragma once

#include <string>
#include <vector>

#include "src/record/run_record.h"

namespace bulkhead::record {

// One row of `bulkhead runs`: a record, or why it could not be read.
struct RunListing {
  std::string run_id;
  const RunRecord* run = nullptr;  // nullptr when damaged
  std::string problem;             // the read error, when damaged
  bool running = false;            // not finished and still held by its bulkhead
};

// `bulkhead runs`: id, when (local time), counts, wall, exit; newest first as given.
std::string runs_table(const std::vector<RunListing>& runs);

// `argv` as one shell line, each word quoted when the shell would read it otherwise.
std::string quoted_command(const std::vector<std::string>& argv);

// "3 failed, 97 passed, 1 timeout" from a record's counts ("no tests" when none).
std::string counts_text(const RunRecord& run);

// `bulkhead show RUN`: command, versions, limits, counts, and every sandbox that ran.
std::string run_summary(const RunRecord& run, bool running);

// `bulkhead show RUN NODEID`: the test's result, cause, where it ran, what its sandbox ran
// before it (the count and the last `last_few`), its retries, and the repro command.
std::string test_view(const RunRecord& run, const RecordedTest& test, std::size_t last_few = 5);

}  // namespace bulkhead::record

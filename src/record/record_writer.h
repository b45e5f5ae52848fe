// Writing a run record as the run goes (docs/records.md): the run's directory, made whole
// before anyone can list it; run.json at the start and again at the end; one results line per
// test as it ends (a crash of bulkhead keeps what was written); pruning to the newest records.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sandbox/fd.h"
#include "src/record/run_record.h"

namespace bulkhead::record {

class RecordWriter {
 public:
  // Creates <runs_dir>/<header.run_id>/ with run.json (not finished) and an empty results
  // stream, and holds its lock (pruning skips it) until destroyed. When `runs_dir` is a
  // `.bulkhead/runs`, `.bulkhead/.gitignore` (`*`) is written if missing. Throws SysError.
  RecordWriter(const std::string& runs_dir, const RunRecord& header);
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  const std::string& dir() const { return dir_; }
  // Appends one test's line to a buffer, written (whole lines, one write(2)) by flush(), by
  // update(), by the destructor, or once 64 KiB wait: the supervisor flushes on a short tick,
  // not once per test. Throws SysError.
  void append(const RecordedTest& test);
  void flush();
  // Writes what append() buffered, then rewrites run.json (atomically) with `run`'s header
  // fields; `tests` is not read.
  void update(const RunRecord& run);
  ~RecordWriter();

 private:
  std::string dir_;
  UniqueFd lock_;
  UniqueFd results_;
  std::string pending_;  // whole lines not yet written
};

// Whether the bulkhead that writes the record in `dir` is still running (holds its lock).
bool run_in_progress(const std::string& dir);

// Removes the oldest records of `runs_dir` beyond the newest `keep`, except those a running
// bulkhead still holds. Safe when several runs prune the same directory at once (each record
// is renamed away by exactly one of them before it is deleted). Returns the ids removed.
std::vector<std::string> prune_runs(const std::string& runs_dir, std::size_t keep = kKeptRuns);

}  // namespace bulkhead::record

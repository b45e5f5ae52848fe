// The run's record as the run goes (RunObserver): opened when the collection says where the
// rootdir is, one results line per test as it ends (buffered: written on the supervisor's
// output tick, flush()), --retries sub-runs tagged with their
// attempt, run.json completed at the end. A record that cannot be written is said once on
// stderr and the run goes on without it.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/record/record_writer.h"
#include "src/record/run_record.h"
#include "src/report/result_store.h"
#include "src/report/test_model.h"
#include "src/run/run_observer.h"

namespace bulkhead::record {

// What a recorded test line says of a test as the supervisor ended it.
RecordedTest recorded_test(const TestRecord& test);

// Makes absolute arguments inside `rootdir` relative to `cwd` (also the value of --opt=PATH).
std::vector<std::string> portable_argv(const std::vector<std::string>& argv,
                                       const std::string& rootdir, const std::string& cwd);

class RunRecorder : public RunObserver {
 public:
  // `header`: the run's fields known before it starts (argv and cwd as they are: absolute).
  // `runs_dir`: where records go; "" for <rootdir>/.bulkhead/runs once the rootdir is known,
  // `fallback_rootdir` when the run ends before any collection.
  RunRecorder(RunRecord header, std::string runs_dir, std::string fallback_rootdir);

  void collected(const protocol::WorkerSettings& settings, std::size_t tests) override;
  void test_ended(const TestRecord& test) override;
  void sub_run(int attempt, const std::string& kind) override;
  void flush() override;

  // Completes run.json (exit code, duration, counts of the final results) and prunes the
  // runs directory to the newest kKeptRuns. Returns the record's directory ("" when none).
  std::string finish(int exit_code, double duration, const ResultStore& results);

 private:
  void open(const std::string& rootdir);
  void failed(const std::exception& error);

  RunRecord header_;
  std::string runs_dir_;
  std::string fallback_rootdir_;
  std::unique_ptr<RecordWriter> writer_;
  bool broken_ = false;
  int attempt_ = 0;
  std::string kind_ = "run";
};

}  // namespace bulkhead::record

// What the supervisor tells a run's observer (the run record, src/record/run_recorder.h) as the
// run goes: the agreed collection, then each test as it ends with where it ran (its worker,
// sandbox incarnation and position in that sandbox, set by the supervisor when it started).
#pragma once

#include <cstddef>
#include <string>

#include "src/report/test_model.h"
#include "src/run/protocol.h"

namespace bulkhead {

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // Once per Supervisor run, when the collection is agreed (`tests`: collected test count).
  virtual void collected(const protocol::WorkerSettings& settings, std::size_t tests) = 0;
  // Each test the run ends, once, when it ends (tests never run: at the run's end).
  virtual void test_ended(const TestRecord& test) = 0;
  // The Supervisor runs that follow are --retries sub-run `attempt` (1, 2, ...) of `kind`
  // ("alone", "replay").
  virtual void sub_run(int attempt, const std::string& kind) = 0;
  // Writes what it buffered of the ended tests (the supervisor's loop calls it on its output
  // tick, about ten times a second while tests end, and at the end of each Supervisor run).
  virtual void flush() {}
};

}  // namespace bulkhead

// How one run uses durations and shards: the durations are found once at start (pytest-split's
// `.test_durations`, else bulkhead's own run records); when the workers agree on a collection,
// this shard's tests are picked (partition.h) and every test gets its expected time for the
// scheduler. What was decided is kept for the header and the JSON report, so `bulkhead merge`
// can tell which tests a missing shard held.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/report/test_model.h"
#include "src/run/scheduler.h"
#include "src/shard/durations.h"
#include "src/shard/shard_spec.h"

namespace bulkhead {

class RunPlanner {
 public:
  // `split` decides the partition and must be the same on every shard (the shared
  // `.test_durations`); `order` (a superset: also this machine's run records) orders the work.
  RunPlanner(ShardSpec spec, DistMode mode, DurationSource split, DurationSource order);

  // Called once with the agreed collection: this run's tests, expected times, and a line for
  // the terminal after the collection line. The durations are dropped then.
  WorkPlan plan(const std::vector<ScheduledItem>& items);

  // A replay (--replay): exactly `nodeids`, in that order, instead of the mode's units and any
  // shard; plan() then throws UserError naming those the collection lacks (`list` names the
  // list).
  void replay(std::vector<std::string> nodeids, std::string list);

  const ShardSpec& spec() const { return spec_; }
  const std::optional<ShardAssignment>& assignment() const { return assignment_; }

 private:
  ShardSpec spec_;
  DistMode mode_;
  DurationSource split_;
  DurationSource order_;
  std::optional<ShardAssignment> assignment_;
  std::vector<std::string> replay_;
  std::string replay_list_;
};

// "12.3 s", "850 ms", "2 min 5 s": expected times in a header line.
std::string format_expected(double seconds);

}  // namespace bulkhead

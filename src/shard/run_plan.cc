// Picking this shard's tests and their expected times (run_plan.h).
#include "src/shard/run_plan.h"

#include <cmath>
#include <cstdio>
#include <utility>

#include "src/diagnose/replay_list.h"
#include "src/shard/partition.h"

namespace bulkhead {

namespace {

std::string known_part(const Estimates& estimates, std::size_t tests) {
  std::string text = std::to_string(estimates.known) + " of " + std::to_string(tests) + " known";
  if (estimates.known < tests)
    text += ", the others at the median " + format_expected(estimates.median_s);
  return text;
}

}  // namespace

std::string format_expected(double seconds) {
  char text[64];
  if (seconds < 1) {
    std::snprintf(text, sizeof text, "%.0f ms", seconds * 1000);
  } else if (seconds < 120) {
    std::snprintf(text, sizeof text, "%.1f s", seconds);
  } else {
    std::snprintf(text, sizeof text, "%.0f min %.0f s", std::floor(seconds / 60),
                  std::fmod(seconds, 60));
  }
  return text;
}

RunPlanner::RunPlanner(ShardSpec spec, DistMode mode, DurationSource split, DurationSource order)
    : spec_(std::move(spec)), mode_(mode), split_(std::move(split)), order_(std::move(order)) {}

void RunPlanner::replay(std::vector<std::string> nodeids, std::string list) {
  replay_ = std::move(nodeids);
  replay_list_ = std::move(list);
}

WorkPlan RunPlanner::plan(const std::vector<ScheduledItem>& items) {
  // Called once: the durations are let go with it.
  const DurationSource order_source = std::exchange(order_, DurationSource{});
  const DurationSource split_source = std::exchange(split_, DurationSource{});
  WorkPlan work = replay_.empty() ? WorkPlan{} : replay_plan(items, replay_, replay_list_);
  Estimates order = estimate(items, order_source);
  work.expected_s = std::move(order.expected_s);
  work.order_s = std::move(order.order_s);
  if (!spec_.sharded() || !replay_.empty()) return work;

  const Estimates split = estimate(items, split_source);
  const ShardPartition partition = partition_shards(mode_, items, split.expected_s, spec_.total);
  ShardAssignment assignment;
  assignment.index = spec_.index;
  assignment.total = spec_.total;
  assignment.provider = spec_.provider;
  assignment.found = spec_.found;
  assignment.digest = partition.digest;
  assignment.shard_of = partition.shard_of;
  assignment.collection.reserve(items.size());
  for (const ScheduledItem& item : items) assignment.collection.push_back(item.nodeid);
  assignment.expected_s = partition.expected_s;
  assignment.durations = split.known > 0 ? split_source.description : "none";

  work.selected.resize(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    work.selected[i] = partition.shard_of[i] == spec_.index;
  }
  const auto mine = static_cast<std::size_t>(spec_.index);
  std::string note = spec_.describe() + ": " + std::to_string(partition.tests[mine]) + " of " +
                     std::to_string(items.size()) + " tests";
  if (split.known > 0) {
    double total = 0;
    for (double load : partition.expected_s) total += load;
    note += ", expected " + format_expected(partition.expected_s[mine]) + " of " +
            format_expected(total) + " (durations from " + split_source.description + ": " +
            known_part(split, items.size()) + ")";
  } else {
    note += ", split by count (no durations: `bulkhead run --store-durations` writes " +
            (split_source.description.empty() ? std::string(".test_durations")
                                              : split_source.description) +
            ")";
  }
  if (partition.tests[mine] == 0) note += "; nothing to run in this shard";
  work.note = note;
  assignment_ = std::move(assignment);
  return work;
}

}  // namespace bulkhead

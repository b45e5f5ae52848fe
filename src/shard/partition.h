// Splitting one collection into N shards that finish together: longest-processing-time-first
// over the scheduling units of the --dist mode (a loadscope class, a loadfile file, an
// xdist_group never spans shards). Deterministic: every shard computes the same partition from
// the same collection and durations, in integer microseconds so no float rounding can differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/run/units.h"

namespace bulkhead {

struct ShardPartition {
  std::vector<int> shard_of;       // per collected index: its shard, 0-based
  std::vector<double> expected_s;  // per shard: expected seconds (tests, when unknown)
  std::vector<std::size_t> tests;  // per shard: how many tests
  std::string digest;              // 16 hex digits over the node ids and the assignment
};

// `expected_s` per item (empty: every test weighs one, i.e. a split by count). Units go,
// heaviest first (ties: earlier in the collection), to the shard with the least expected time
// so far (ties: the lowest shard).
ShardPartition partition_shards(DistMode mode, const std::vector<ScheduledItem>& items,
                                const std::vector<double>& expected_s, int shards);

}  // namespace bulkhead

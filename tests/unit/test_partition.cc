// Unit tests of the shard partition: LPT over units, deterministic, balanced on skewed
// durations, units never split, and the split by count when durations are unknown.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "src/shard/partition.h"

namespace bulkhead {
namespace {

std::vector<ScheduledItem> numbered(std::size_t n, std::size_t per_file = 10) {
  std::vector<ScheduledItem> items;
  for (std::size_t i = 0; i < n; ++i) {
    items.push_back({"f" + std::to_string(i / per_file) + ".py::test_" + std::to_string(i), ""});
  }
  return items;
}

TEST(Partition, EveryTestInExactlyOneShard) {
  auto items = numbered(103);
  ShardPartition p = partition_shards(DistMode::Load, items, {}, 4);
  ASSERT_EQ(p.shard_of.size(), items.size());
  std::vector<std::size_t> count(4, 0);
  for (int s : p.shard_of) {
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 4);
    ++count[static_cast<std::size_t>(s)];
  }
  EXPECT_EQ(count, p.tests);
  // By count: 103 tests over 4 shards is 26, 26, 26, 25.
  EXPECT_EQ(
      *std::max_element(count.begin(), count.end()) - *std::min_element(count.begin(), count.end()),
      1u);
  EXPECT_EQ(p.digest.size(), 16u);
}

TEST(Partition, LongestFirstBalancesSkewedDurations) {
  // A few 2 s tests among many 10 ms ones: the 2 s tests spread over the shards.
  auto items = numbered(400);
  std::vector<double> seconds(items.size(), 0.01);
  for (std::size_t i : {5, 77, 150, 151, 152, 300, 301, 399}) seconds[i] = 2.0;
  ShardPartition p = partition_shards(DistMode::Load, items, seconds, 4);
  const double total = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  const double mean = total / 4;
  for (double load : p.expected_s) EXPECT_LE(load, mean * 1.05) << "loads unbalanced";
  std::vector<int> long_per_shard(4, 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (seconds[i] > 1) ++long_per_shard[static_cast<std::size_t>(p.shard_of[i])];
  }
  EXPECT_EQ(long_per_shard, (std::vector<int>{2, 2, 2, 2}));
}

TEST(Partition, IsDeterministicAndTheDigestFollowsTheAssignment) {
  auto items = numbered(500);
  std::mt19937 rng(7);
  std::vector<double> seconds;
  for (std::size_t i = 0; i < items.size(); ++i) {
    seconds.push_back(std::uniform_real_distribution<double>(0, 3)(rng));
  }
  ShardPartition a = partition_shards(DistMode::Load, items, seconds, 5);
  ShardPartition b = partition_shards(DistMode::Load, items, seconds, 5);
  EXPECT_EQ(a.shard_of, b.shard_of);
  EXPECT_EQ(a.digest, b.digest);
  // Durations that move a test move the digest; the same assignment keeps it.
  std::vector<double> changed = seconds;
  changed[0] += 10;
  EXPECT_NE(partition_shards(DistMode::Load, items, changed, 5).digest, a.digest);
  EXPECT_NE(partition_shards(DistMode::Load, items, seconds, 4).digest, a.digest);
}

TEST(Partition, UnitsNeverSpanShards) {
  // loadscope: classes and modules stay whole; loadgroup: a group stays whole.
  std::vector<ScheduledItem> items;
  std::vector<double> seconds;
  for (int m = 0; m < 6; ++m) {
    for (int c = 0; c < 3; ++c) {
      for (int t = 0; t < 4; ++t) {
        items.push_back({"m" + std::to_string(m) + ".py::TestC" + std::to_string(c) + "::test_" +
                             std::to_string(t),
                         t == 0 ? "g" + std::to_string(m % 2) : ""});
        seconds.push_back(0.1 * (1 + m * c));
      }
    }
  }
  for (DistMode mode : {DistMode::LoadScope, DistMode::LoadFile, DistMode::LoadGroup}) {
    ShardPartition p = partition_shards(mode, items, seconds, 3);
    std::map<std::string, int> shard_of_key;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string key(unit_key(mode, items[i]));
      if (key.empty()) continue;
      auto [it, inserted] = shard_of_key.try_emplace(key, p.shard_of[i]);
      EXPECT_EQ(it->second, p.shard_of[i]) << dist_mode_name(mode) << " split " << key;
    }
  }
}

TEST(Partition, MoreShardsThanTestsLeavesSomeEmpty) {
  ShardPartition p = partition_shards(DistMode::Load, numbered(2), {}, 4);
  EXPECT_EQ(p.tests, (std::vector<std::size_t>{1, 1, 0, 0}));
  EXPECT_THROW(partition_shards(DistMode::Load, numbered(2), {}, 0), std::invalid_argument);
}

}  // namespace
}  // namespace bulkhead

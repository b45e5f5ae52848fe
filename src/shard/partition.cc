// The shard partition: LPT over scheduling units, in integer microseconds (partition.h).
#include "src/shard/partition.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include "src/shard/fnv.h"

namespace bulkhead {

namespace {

int64_t micros(double seconds) {
  if (!(seconds > 0)) return 0;
  return static_cast<int64_t>(std::llround(std::min(seconds, 1e9) * 1e6));
}

}  // namespace

ShardPartition partition_shards(DistMode mode, const std::vector<ScheduledItem>& items,
                                const std::vector<double>& expected_s, int shards) {
  if (shards < 1) throw std::invalid_argument("partition: shard count below 1");
  if (!expected_s.empty() && expected_s.size() != items.size()) {
    throw std::invalid_argument("partition: durations size differs from the collection");
  }
  const std::vector<std::vector<std::size_t>> units = group_units(mode, items);
  std::vector<int64_t> weight(units.size(), 0);
  for (std::size_t u = 0; u < units.size(); ++u) {
    for (std::size_t index : units[u]) {
      weight[u] += expected_s.empty() ? 1'000'000 : micros(expected_s[index]);
    }
  }
  std::vector<std::size_t> order(units.size());
  std::iota(order.begin(), order.end(), 0);
  // Units are numbered in order of their first test, so a stable sort breaks ties by position.
  std::stable_sort(order.begin(), order.end(),
                   [&weight](std::size_t a, std::size_t b) { return weight[a] > weight[b]; });

  ShardPartition out;
  out.shard_of.assign(items.size(), -1);
  out.tests.assign(static_cast<std::size_t>(shards), 0);
  std::vector<int64_t> load(static_cast<std::size_t>(shards), 0);
  for (std::size_t u : order) {
    const auto lightest = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) -
                                                   load.begin());  // first of equals
    load[lightest] += weight[u];
    out.tests[lightest] += units[u].size();
    for (std::size_t index : units[u]) out.shard_of[index] = static_cast<int>(lightest);
  }
  out.expected_s.reserve(load.size());
  for (int64_t l : load) out.expected_s.push_back(static_cast<double>(l) / 1e6);

  uint64_t hash = kFnvOffset;
  const std::string count = std::to_string(shards) + "\n";
  fnv1a(hash, count.data(), count.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string line = items[i].nodeid + " " + std::to_string(out.shard_of[i]) + "\n";
    fnv1a(hash, line.data(), line.size());
  }
  char digest[17];
  std::snprintf(digest, sizeof digest, "%016llx", static_cast<unsigned long long>(hash));
  out.digest = digest;
  return out;
}

}  // namespace bulkhead

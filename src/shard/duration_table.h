// Known test durations held compactly for a whole run: one array sorted by a 64-bit hash of the
// node id (24 bytes a test), looked up by binary search. An exact table also keeps the node ids,
// back to back in one string, and compares them; a hashed table keeps no ids at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead {

// What is known about a test's duration: `total` (all phases) and, where the source kept the
// phases apart, `call` (the test body, without fixture setup).
struct KnownDuration {
  double total = 0;
  std::optional<double> call;
};

class DurationTable {
 public:
  // kExact: find() compares node ids (what the shard split reads: `.test_durations`).
  // kHashed: find() compares the ids' 64-bit hashes only, no id is kept. Two ids with the same
  // hash (odds ~n²/2^65, 3e-10 at 100 000 tests) share the first one's duration: only for
  // what is an ordering hint (the scheduler's order, the progress line's estimate).
  enum class Keys { kExact, kHashed };

  using Hash = uint64_t (*)(std::string_view nodeid);
  static uint64_t fnv_hash(std::string_view nodeid);  // FNV-1a, 64 bits

  // `hash` is for tests (collisions on demand); tables merged must share it.
  DurationTable() : DurationTable(Keys::kExact) {}
  explicit DurationTable(Keys keys, Hash hash = fnv_hash) : keys_(keys), hash_(hash) {}

  // Adds a test; of equal node ids the first added wins. find() throws std::logic_error from
  // the first add() until sort().
  void add(std::string_view nodeid, const KnownDuration& known);
  // Adds `other`'s tests (same Keys) after this table's, as if added one by one.
  void append(DurationTable&& other);
  // Sorts, drops the duplicates and the spare capacity. Then the table is ready for find().
  void sort();

  std::optional<KnownDuration> find(std::string_view nodeid) const;
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  Keys keys() const { return keys_; }

  // Whether every test of `other` (sorted) is in this table (sorted), by hash.
  bool covers(const DurationTable& other) const;
  // `first`'s tests, then `second`'s that `first` lacks by hash: a hashed table (both sorted).
  static DurationTable overlay(const DurationTable& first, const DurationTable& second);

 private:
  struct Entry {
    uint64_t hash;
    double total;
    double call;  // NaN: unknown
  };
  std::string_view id(std::size_t i) const;
  const Entry* first_of(uint64_t hash) const;  // the first entry with `hash`, or nullptr

  Keys keys_;
  Hash hash_;
  bool sorted_ = true;
  std::vector<Entry> entries_;
  std::string ids_;                // kExact: the node ids, back to back, in entries_' order
  std::vector<std::size_t> ends_;  // kExact: per entry, where its id ends in ids_
};

}  // namespace bulkhead

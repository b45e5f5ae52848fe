// Known durations as a sorted array of (hash, seconds) (duration_table.h).
#include "src/shard/duration_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "src/shard/fnv.h"

namespace bulkhead {

namespace {

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

}  // namespace

uint64_t DurationTable::fnv_hash(std::string_view nodeid) {
  uint64_t hash = kFnvOffset;
  fnv1a(hash, nodeid.data(), nodeid.size());
  return hash;
}

std::string_view DurationTable::id(std::size_t i) const {
  const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
  return std::string_view(ids_).substr(begin, ends_[i] - begin);
}

void DurationTable::add(std::string_view nodeid, const KnownDuration& known) {
  sorted_ = false;
  entries_.push_back({hash_(nodeid), known.total, known.call ? *known.call : kUnknown});
  if (keys_ == Keys::kExact) {
    ids_.append(nodeid);
    ends_.push_back(ids_.size());
  }
}

void DurationTable::append(DurationTable&& other) {
  if (other.keys_ != keys_ || other.hash_ != hash_) {
    throw std::logic_error("DurationTable::append: another kind of table");
  }
  if (other.empty()) return;
  sorted_ = false;
  entries_.insert(entries_.end(), other.entries_.begin(), other.entries_.end());
  const std::size_t base = ids_.size();
  ids_ += other.ids_;
  for (std::size_t end : other.ends_) ends_.push_back(base + end);
  other = DurationTable(keys_, hash_);
}

void DurationTable::sort() {
  if (sorted_) return;
  std::vector<std::size_t> order(entries_.size());
  std::iota(order.begin(), order.end(), 0);
  const bool exact = keys_ == Keys::kExact;
  // Stable: of equal keys the first added comes first and is the one kept.
  std::stable_sort(order.begin(), order.end(), [this, exact](std::size_t a, std::size_t b) {
    if (entries_[a].hash != entries_[b].hash) return entries_[a].hash < entries_[b].hash;
    return exact && id(a) < id(b);
  });
  const auto duplicate = [&](std::size_t k) {
    return k > 0 && entries_[order[k - 1]].hash == entries_[order[k]].hash &&
           (!exact || id(order[k - 1]) == id(order[k]));
  };
  std::size_t kept = 0;
  for (std::size_t k = 0; k < order.size(); ++k) kept += duplicate(k) ? 0 : 1;
  std::vector<Entry> entries;
  std::string ids;
  std::vector<std::size_t> ends;
  entries.reserve(kept);
  if (exact) {
    ids.reserve(ids_.size());
    ends.reserve(kept);
  }
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (duplicate(k)) continue;
    entries.push_back(entries_[order[k]]);
    if (exact) {
      ids.append(id(order[k]));
      ends.push_back(ids.size());
    }
  }
  entries_ = std::move(entries);
  ids_ = std::move(ids);
  ends_ = std::move(ends);
  sorted_ = true;
}

const DurationTable::Entry* DurationTable::first_of(uint64_t hash) const {
  if (!sorted_) throw std::logic_error("DurationTable: find() before sort()");
  auto it = std::lower_bound(entries_.begin(), entries_.end(), hash,
                             [](const Entry& entry, uint64_t h) { return entry.hash < h; });
  return it != entries_.end() && it->hash == hash ? &*it : nullptr;
}

std::optional<KnownDuration> DurationTable::find(std::string_view nodeid) const {
  const Entry* entry = first_of(hash_(nodeid));
  if (entry == nullptr) return std::nullopt;
  if (keys_ == Keys::kExact) {
    // Equal hashes sit together, sorted by id: compare each (almost always one).
    auto i = static_cast<std::size_t>(entry - entries_.data());
    const uint64_t hash = entry->hash;
    while (i < entries_.size() && entries_[i].hash == hash && id(i) != nodeid) ++i;
    if (i == entries_.size() || entries_[i].hash != hash) return std::nullopt;
    entry = &entries_[i];
  }
  KnownDuration known{entry->total, std::nullopt};
  if (!std::isnan(entry->call)) known.call = entry->call;
  return known;
}

bool DurationTable::covers(const DurationTable& other) const {
  if (!other.sorted_) throw std::logic_error("DurationTable: covers() before sort()");
  if (other.hash_ != hash_) throw std::logic_error("DurationTable: covers() of another hash");
  return std::all_of(other.entries_.begin(), other.entries_.end(),
                     [this](const Entry& entry) { return first_of(entry.hash) != nullptr; });
}

DurationTable DurationTable::overlay(const DurationTable& first, const DurationTable& second) {
  if (!first.sorted_ || !second.sorted_) {
    throw std::logic_error("DurationTable: overlay() before sort()");
  }
  if (first.hash_ != second.hash_) throw std::logic_error("DurationTable: overlay() of two hashes");
  DurationTable out(Keys::kHashed, first.hash_);
  out.entries_.reserve(first.size() + second.size());
  out.entries_.insert(out.entries_.end(), first.entries_.begin(), first.entries_.end());
  for (const Entry& entry : second.entries_) {
    if (first.first_of(entry.hash) == nullptr) out.entries_.push_back(entry);
  }
  out.sorted_ = false;
  out.sort();  // also keeps one of `first`'s ids that share a hash
  return out;
}

}  // namespace bulkhead

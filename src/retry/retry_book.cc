// The retry decisions and verdicts (see retry_book.h).
#include "src/retry/retry_book.h"

#include <algorithm>

namespace bulkhead {

std::vector<std::size_t> predecessors_of(const std::vector<RanTest>& ran, std::size_t target) {
  const RanTest* self = nullptr;
  for (const RanTest& test : ran) {
    if (test.index == target) self = &test;
  }
  std::vector<const RanTest*> before;
  if (self == nullptr || self->worker.empty()) return {};
  for (const RanTest& test : ran) {
    if (test.index != target && test.worker == self->worker &&
        test.incarnation == self->incarnation &&
        (self->seq >= 0 && test.seq >= 0 ? test.seq < self->seq : test.start < self->start)) {
      before.push_back(&test);
    }
  }
  std::sort(before.begin(), before.end(), [](const RanTest* a, const RanTest* b) {
    if (a->seq >= 0 && b->seq >= 0) return a->seq < b->seq;
    return a->start != b->start ? a->start < b->start : a->index < b->index;
  });
  std::vector<std::size_t> out;
  out.reserve(before.size());
  for (const RanTest* test : before) out.push_back(test->index);
  return out;
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::Failed:
      return "failed";
    case Verdict::Flaky:
      return "flaky";
    case Verdict::OrderDependent:
      return "order-dependent";
    case Verdict::Pending:
      break;
  }
  return "";
}

RetryBook::RetryBook(const std::vector<RanTest>& ran, int retries) : retries_(retries) {
  std::vector<const RanTest*> failed;
  for (const RanTest& test : ran) {
    if (test.failed) failed.push_back(&test);
  }
  std::sort(failed.begin(), failed.end(),
            [](const RanTest* a, const RanTest* b) { return a->index < b->index; });
  for (const RanTest* test : failed) {
    Entry entry;
    entry.index = test->index;
    entry.sequence = predecessors_of(ran, test->index);
    entry.sequence.push_back(test->index);
    entries_.push_back(std::move(entry));
  }
}

const RetryBook::Entry* RetryBook::find(std::size_t index) const {
  for (const Entry& entry : entries_) {
    if (entry.index == index) return &entry;
  }
  return nullptr;
}

RetryBook::Entry* RetryBook::find(std::size_t index) {
  return const_cast<Entry*>(static_cast<const RetryBook*>(this)->find(index));
}

std::vector<std::size_t> RetryBook::next_alone_round() const {
  std::vector<std::size_t> out;
  for (const Entry& entry : entries_) {
    if (!entry.passed_alone && entry.alone_runs < retries_) out.push_back(entry.index);
  }
  return out;
}

void RetryBook::alone_result(std::size_t index, bool passed) {
  Entry* entry = find(index);
  if (entry == nullptr) return;
  ++entry->alone_runs;
  if (passed) {
    entry->passed_alone = true;
  } else {
    ++entry->alone_failures;
  }
}

std::vector<RetryBook::Replay> RetryBook::replays() const {
  std::vector<Replay> out;
  for (const Entry& entry : entries_) {
    // Passed on its first rerun alone, with something before it to blame, not replayed yet.
    if (entry.passed_alone && entry.alone_failures == 0 && entry.sequence.size() > 1 &&
        !entry.replay_passed) {
      out.push_back({entry.index, entry.sequence});
    }
  }
  return out;
}

void RetryBook::replay_result(std::size_t index, bool passed) {
  if (Entry* entry = find(index)) entry->replay_passed = passed;
}

std::vector<std::size_t> RetryBook::failed_tests() const {
  std::vector<std::size_t> out;
  for (const Entry& entry : entries_) out.push_back(entry.index);
  return out;
}

Verdict RetryBook::verdict(std::size_t index) const {
  const Entry* entry = find(index);
  if (entry == nullptr) return Verdict::Pending;
  if (!entry->passed_alone) {
    return entry->alone_runs >= retries_ ? Verdict::Failed : Verdict::Pending;
  }
  if (entry->alone_failures > 0 || entry->sequence.size() == 1) return Verdict::Flaky;
  if (!entry->replay_passed) return Verdict::Pending;
  return *entry->replay_passed ? Verdict::Flaky : Verdict::OrderDependent;
}

std::size_t RetryBook::predecessors(std::size_t index) const {
  const Entry* entry = find(index);
  return entry == nullptr ? 0 : entry->sequence.size() - 1;
}

}  // namespace bulkhead

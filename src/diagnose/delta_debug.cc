// Parallel ddmin over a test's predecessors; see delta_debug.h.
#include "src/diagnose/delta_debug.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>

namespace bulkhead {
namespace {

using Positions = std::vector<std::size_t>;

// `set` cut into `parts` contiguous chunks of near-equal size.
std::vector<Positions> split(const Positions& set, std::size_t parts) {
  std::vector<Positions> chunks;
  std::size_t begin = 0;
  for (std::size_t part = 0; part < parts; ++part) {
    const std::size_t end = begin + (set.size() - begin) / (parts - part);
    chunks.emplace_back(set.begin() + static_cast<long>(begin),
                        set.begin() + static_cast<long>(end));
    begin = end;
  }
  return chunks;
}

// `set` without `chunk` (both ascending).
Positions without(const Positions& set, const Positions& chunk) {
  Positions rest;
  std::set_difference(set.begin(), set.end(), chunk.begin(), chunk.end(), std::back_inserter(rest));
  return rest;
}

class Search {
 public:
  Search(int width, const TrialBatch& run, BisectOutcome& out)
      : width_(static_cast<std::size_t>(width)), run_(run), out_(out) {}

  // Runs `sets` as they are (no cache), `width` at a time.
  std::vector<Trial> run_all(const std::vector<Positions>& sets) {
    std::vector<Trial> trials;
    for (std::size_t begin = 0; begin < sets.size(); begin += width_) {
      const std::size_t end = std::min(sets.size(), begin + width_);
      const std::vector<Positions> batch(sets.begin() + static_cast<long>(begin),
                                         sets.begin() + static_cast<long>(end));
      const std::vector<Trial> got = run_batch(batch);
      trials.insert(trials.end(), got.begin(), got.end());
    }
    return trials;
  }

  // The first of `candidates` (in their order) whose replay fails, running those not known yet
  // `width` at a time and stopping after the round that found one.
  std::optional<std::size_t> first_failing(const std::vector<Positions>& candidates) {
    std::size_t next = 0;
    while (next < candidates.size()) {
      std::vector<std::size_t> batch;
      std::set<Positions> pending;
      std::optional<std::size_t> known_failing;
      for (; next < candidates.size() && batch.size() < width_ && !known_failing; ++next) {
        const auto known = known_.find(candidates[next]);
        if (known != known_.end()) {
          if (known->second == Trial::Fails) known_failing = next;
        } else if (pending.insert(candidates[next]).second) {
          batch.push_back(next);
        }
      }
      if (!batch.empty()) {
        std::vector<Positions> sets;
        for (std::size_t index : batch) sets.push_back(candidates[index]);
        const std::vector<Trial> trials = run_batch(sets);
        for (std::size_t i = 0; i < batch.size(); ++i) known_[sets[i]] = trials[i];
        for (std::size_t i = 0; i < batch.size(); ++i) {
          if (trials[i] == Trial::Fails) return batch[i];
        }
      }
      if (known_failing) return known_failing;
    }
    return std::nullopt;
  }

 private:
  std::vector<Trial> run_batch(const std::vector<Positions>& sets) {
    std::vector<Trial> trials = run_(sets);
    if (trials.size() != sets.size()) {
      throw std::logic_error("bisect: a round returned " + std::to_string(trials.size()) +
                             " trials for " + std::to_string(sets.size()) + " candidates");
    }
    ++out_.rounds;
    out_.trials += sets.size();
    return trials;
  }

  std::size_t width_;
  const TrialBatch& run_;
  BisectOutcome& out_;
  std::map<Positions, Trial> known_;
};

}  // namespace

BisectOutcome bisect_predecessors(std::size_t predecessors, int width, const TrialBatch& run,
                                  int confirmations) {
  if (width < 1) throw std::invalid_argument("bisect: width must be at least 1");
  BisectOutcome out;
  Search search(width, run, out);
  Positions all(predecessors);
  std::iota(all.begin(), all.end(), std::size_t{0});

  // The whole sequence must fail again and the test alone pass, `confirmations` times each.
  const auto times = static_cast<std::size_t>(std::max(confirmations, 1));
  std::vector<Positions> first_sets(times, all);
  if (predecessors) first_sets.insert(first_sets.end(), times, Positions{});
  const std::vector<Trial> first = search.run_all(first_sets);
  const auto whole_failed =
      static_cast<std::size_t>(std::count(first.begin(), first.begin() + times, Trial::Fails));
  const auto alone_failed =
      static_cast<std::size_t>(std::count(first.begin() + times, first.end(), Trial::Fails));
  if (whole_failed == times && (!predecessors || alone_failed == times)) {
    out.verdict = BisectOutcome::Verdict::FailsAlone;
    return out;
  }
  if (whole_failed != times || alone_failed != 0) {
    out.verdict = whole_failed == 0 && alone_failed == 0 ? BisectOutcome::Verdict::NotReproduced
                                                         : BisectOutcome::Verdict::Flaky;
    out.note = "after its predecessors it failed " + std::to_string(whole_failed) + " of " +
               std::to_string(times) + " times";
    if (predecessors) {
      out.note += ", alone " + std::to_string(alone_failed) + " of " + std::to_string(times);
    }
    return out;
  }

  // ddmin: try each chunk, then each complement; reduce to the first that fails, else refine.
  const std::size_t start_parts = std::max<std::size_t>(2, static_cast<std::size_t>(width));
  Positions current = all;
  std::size_t parts = std::min(start_parts, current.size());
  while (current.size() >= 2) {
    const std::vector<Positions> chunks = split(current, parts);
    std::vector<Positions> candidates = chunks;
    if (parts > 2) {
      for (const Positions& chunk : chunks) candidates.push_back(without(current, chunk));
    }
    const std::optional<std::size_t> hit = search.first_failing(candidates);
    if (hit && *hit < parts) {
      current = chunks[*hit];
      parts = std::min(start_parts, current.size());
    } else if (hit) {
      current = candidates[*hit];
      parts = std::max<std::size_t>(parts - 1, 2);
    } else if (parts < current.size()) {
      parts = std::min(parts * 2, current.size());
    } else {
      break;  // 1-minimal: without any one of them it passes
    }
  }

  // The set found must fail again every time; without any one of it (as often), and alone, pass.
  std::vector<Positions> check(times, current);
  if (current.size() > 1) {
    for (std::size_t position : current)
      check.insert(check.end(), times, without(current, {position}));
  }
  check.push_back({});
  const std::vector<Trial> confirmed = search.run_all(check);
  const auto failed = static_cast<std::size_t>(
      std::count(confirmed.begin(), confirmed.begin() + times, Trial::Fails));
  const auto failed_without = static_cast<std::size_t>(
      std::count(confirmed.begin() + times, confirmed.end(), Trial::Fails));
  if (failed != times || failed_without != 0) {
    out.verdict = BisectOutcome::Verdict::Flaky;
    out.note = "the " + std::to_string(current.size()) + " test(s) found made it fail " +
               std::to_string(failed) + " of " + std::to_string(times) + " times again" +
               (failed_without ? ", and it failed without them" : "");
    return out;
  }
  out.verdict = BisectOutcome::Verdict::Found;
  out.polluters = current;
  return out;
}

}  // namespace bulkhead

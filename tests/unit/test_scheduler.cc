// Unit tests of the scheduler: grouping per --dist mode, refill policy, requeue on worker loss,
// stop, and a seeded random simulation checking every test completes exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "src/run/scheduler.h"

namespace bulkhead {
namespace {

using Indices = std::vector<std::size_t>;

std::vector<ScheduledItem> items_of(const std::vector<std::string>& nodeids) {
  std::vector<ScheduledItem> items;
  for (const std::string& id : nodeids) items.push_back({id, ""});
  return items;
}

std::vector<ScheduledItem> numbered(std::size_t n) {
  std::vector<ScheduledItem> items;
  for (std::size_t i = 0; i < n; ++i) items.push_back({"t.py::test_" + std::to_string(i), ""});
  return items;
}

// Hands out everything one unit at a time (many workers keep the batch target at 1; a unit
// bigger than the target still comes whole), finishing each batch before the next.
std::vector<Indices> units_in_order(DistMode mode, std::vector<ScheduledItem> items) {
  Scheduler s(mode, std::move(items), 64);
  std::vector<Indices> units;
  for (Indices batch = s.next_batch(0); !batch.empty(); batch = s.next_batch(0)) {
    units.push_back(batch);
    for (std::size_t i : batch) s.on_finished(0, i);
  }
  EXPECT_TRUE(s.all_handed_out());
  return units;
}

TEST(DistMode, ParsesAndNames) {
  for (const char* name : {"load", "loadfile", "loadscope", "loadgroup"}) {
    auto mode = parse_dist_mode(name);
    ASSERT_TRUE(mode.has_value()) << name;
    EXPECT_STREQ(dist_mode_name(*mode), name);
  }
  EXPECT_FALSE(parse_dist_mode("each").has_value());
  EXPECT_FALSE(parse_dist_mode("").has_value());
}

TEST(Scheduler, LoadMakesEachTestAUnit) {
  auto units = units_in_order(DistMode::Load, numbered(5));
  EXPECT_EQ(units, (std::vector<Indices>{{0}, {1}, {2}, {3}, {4}}));
}

TEST(Scheduler, LoadFileGroupsByFileInFirstSeenOrder) {
  auto units = units_in_order(DistMode::LoadFile, items_of({
                                                      "a/test_x.py::test_1",
                                                      "a/test_x.py::TestC::test_2",
                                                      "b.py::test_1[x::y]",
                                                      "a/test_x.py::test_3",  // not adjacent
                                                      "c.py",
                                                      "b.py::test_2",
                                                  }));
  EXPECT_EQ(units, (std::vector<Indices>{{0, 1, 3}, {2, 5}, {4}}));
}

TEST(Scheduler, LoadScopeGroupsModuleFunctionsAndClassMethods) {
  auto units = units_in_order(DistMode::LoadScope, items_of({
                                                       "m.py::test_a",
                                                       "m.py::test_b[1]",
                                                       "m.py::TestC::test_x",
                                                       "m.py::TestC::test_y[a::b]",
                                                       "m.py::TestC::TestInner::test_z",
                                                       "n.py::TestD::test_w",
                                                       "m.py::test_c",
                                                   }));
  EXPECT_EQ(units, (std::vector<Indices>{{0, 1, 6}, {2, 3}, {4}, {5}}));
}

TEST(Scheduler, LoadGroupKeepsAGroupTogetherAndOthersSingle) {
  std::vector<ScheduledItem> items = {
      {"a.py::test_1", "db"}, {"a.py::test_2", ""}, {"b.py::test_3", "net"},
      {"b.py::test_4", "db"}, {"b.py::test_5", ""}, {"c.py::test_6", "net"},
  };
  auto units = units_in_order(DistMode::LoadGroup, items);
  EXPECT_EQ(units, (std::vector<Indices>{{0, 3}, {1}, {2, 5}, {4}}));
}

TEST(Scheduler, FirstBatchesShareTheWorkWithoutStarvingAnyone) {
  // 6 tests, 4 workers: every worker starts with something.
  Scheduler s(DistMode::Load, numbered(6), 4);
  std::set<std::size_t> seen;
  for (int w = 0; w < 4; ++w) {
    Indices batch = s.next_batch(w);
    EXPECT_FALSE(batch.empty()) << "worker " << w;
    seen.insert(batch.begin(), batch.end());
  }
  EXPECT_EQ(seen.size(), 4u);

  // 4 files, 4 workers: one file each.
  std::vector<ScheduledItem> files;
  for (int f = 0; f < 4; ++f) {
    for (int t = 0; t < 5; ++t) {
      files.push_back({"f" + std::to_string(f) + ".py::test_" + std::to_string(t), ""});
    }
  }
  Scheduler by_file(DistMode::LoadFile, files, 4);
  for (int w = 0; w < 4; ++w) EXPECT_EQ(by_file.next_batch(w).size(), 5u) << "worker " << w;
  EXPECT_TRUE(by_file.all_handed_out());
}

TEST(Scheduler, RefillsOnlyAtTheLowWatermarkWithShrinkingBatches) {
  Scheduler s(DistMode::Load, numbered(1000), 2);
  Indices first = s.next_batch(0);
  // remaining/(2*workers) = 250, capped.
  EXPECT_EQ(first.size(), 32u);
  EXPECT_EQ(first.front(), 0u);
  EXPECT_TRUE(s.next_batch(0).empty()) << "a full queue is not topped up";
  for (std::size_t k = 0; k + 3 < first.size(); ++k) {
    s.on_finished(0, first[k]);
    EXPECT_TRUE(s.next_batch(0).empty()) << "held " << s.held(0);
  }
  s.on_finished(0, first[first.size() - 3]);
  EXPECT_EQ(s.held(0), 2u);
  Indices refill = s.next_batch(0);
  EXPECT_EQ(refill.size(), 32u);
  EXPECT_EQ(refill.front(), 32u) << "collection order";
  EXPECT_EQ(s.held(0), 34u);

  // Small queues give small batches: 12 left, 2 workers -> 3.
  Scheduler tail(DistMode::Load, numbered(12), 2);
  EXPECT_EQ(tail.next_batch(0).size(), 3u);
  EXPECT_EQ(tail.next_batch(1).size(), 3u);  // ceil(9/4)
}

TEST(Scheduler, NeverSplitsAUnitBiggerThanTheBatch) {
  std::vector<ScheduledItem> items;
  for (int t = 0; t < 50; ++t) items.push_back({"big.py::test_" + std::to_string(t), ""});
  items.push_back({"small.py::test_0", ""});
  Scheduler s(DistMode::LoadFile, items, 8);  // target ceil(51/16) = 4
  EXPECT_EQ(s.next_batch(0).size(), 50u);
  EXPECT_EQ(s.next_batch(1), (Indices{50}));
}

TEST(Scheduler, TailIsBalanced) {
  // Equal-cost tests, workers finishing round-robin: when the queue runs dry nobody holds
  // more than the watermark plus a one-test batch.
  constexpr int kWorkers = 4;
  Scheduler s(DistMode::Load, numbered(2000), kWorkers);
  std::vector<std::deque<std::size_t>> held(kWorkers);
  std::size_t last_batch = SIZE_MAX;
  for (int w = 0; w < kWorkers; ++w) {
    for (std::size_t i : s.next_batch(w)) held[w].push_back(i);
  }
  while (!s.all_handed_out()) {
    for (int w = 0; w < kWorkers && !s.all_handed_out(); ++w) {
      s.on_finished(w, held[w].front());
      held[w].pop_front();
      Indices batch = s.next_batch(w);
      if (!batch.empty()) last_batch = batch.size();
      for (std::size_t i : batch) held[w].push_back(i);
    }
  }
  EXPECT_EQ(last_batch, 1u);
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_LE(s.held(w), 3u) << "worker " << w;
    EXPECT_EQ(s.held(w), held[w].size());
  }
}

TEST(Scheduler, LostWorkerRequeuesAtTheFrontExceptTheLostTest) {
  Scheduler s(DistMode::Load, numbered(10), 1);
  Indices batch = s.next_batch(0);  // ceil(10/2) = 5
  ASSERT_EQ(batch, (Indices{0, 1, 2, 3, 4}));
  s.on_finished(0, 0);
  EXPECT_EQ(s.on_worker_lost(0, 1), (Indices{2, 3, 4}));
  EXPECT_EQ(s.held(0), 0u);
  EXPECT_EQ(s.never_handed_out(), (Indices{2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(s.next_batch(0).front(), 2u);
  // A late report from the dead worker about a requeued test changes nothing.
  s.on_finished(0, 1);
  EXPECT_EQ(s.held(0), 4u);
}

// What spares go by with --isolate (no more spares than units left): whole units, requeued
// ones included.
TEST(Scheduler, QueuedUnitsCountsUnitsNotTests) {
  Scheduler s(DistMode::LoadFile,
              items_of({"a.py::t1", "a.py::t2", "b.py::t1", "b.py::t2", "c.py::t1"}), 2);
  s.one_unit_per_batch();
  EXPECT_EQ(s.queued_units(), 3u);
  EXPECT_EQ(s.next_batch(0), (Indices{0, 1}));
  EXPECT_EQ(s.queued_units(), 2u);
  // Its sandbox died in the unit's first test: the rest of the unit comes back as one unit.
  EXPECT_EQ(s.on_worker_lost(0, 0), (Indices{1}));
  EXPECT_EQ(s.queued_units(), 3u);
  for (int handed = 0; handed < 3; ++handed) {
    const Indices unit = s.next_batch(1);
    EXPECT_FALSE(unit.empty());
    for (std::size_t index : unit) s.on_finished(1, index);
  }
  EXPECT_EQ(s.queued_units(), 0u);
  EXPECT_TRUE(s.all_handed_out());
}

TEST(Scheduler, TestsBackFromALostWorkerSpreadOnePerWorker) {
  // Worker 0 holds four tests in a row (think: four hangs); the first one kills it.
  Scheduler s(DistMode::Load, numbered(16), 2);
  ASSERT_EQ(s.next_batch(0), (Indices{0, 1, 2, 3}));  // ceil(16/4)
  ASSERT_EQ(s.next_batch(1), (Indices{4, 5, 6}));     // ceil(12/4)
  for (std::size_t i : {4, 5, 6}) s.on_finished(1, i);
  ASSERT_EQ(s.on_worker_lost(0, 0), (Indices{1, 2, 3}));

  // Each worker takes one suspect first, topped up with ordinary tests, never two suspects.
  EXPECT_EQ(s.next_batch(0), (Indices{1, 7, 8}));  // ceil(11/4) = 3
  EXPECT_EQ(s.next_batch(1), (Indices{2, 9}));     // ceil(8/4) = 2
  s.on_finished(0, 7);
  s.on_finished(0, 8);
  EXPECT_EQ(s.next_batch(0), (Indices{10, 11}));  // still holds suspect 1: no suspect 3
  // Once its suspect is done, the next suspect may go to it.
  s.on_finished(0, 1);
  EXPECT_EQ(s.next_batch(0).front(), 3u);
  EXPECT_TRUE(s.has_work_for(1));
}

TEST(Scheduler, LostWorkerKeepsTheRestOfAUnitTogether) {
  // Files a = {0,1,2}, b = {3,4}, c = {5..9}; one worker takes a and b (target 5).
  std::vector<ScheduledItem> items = {
      {"a.py::t0", ""}, {"a.py::t1", ""}, {"a.py::t2", ""}, {"b.py::t3", ""}, {"b.py::t4", ""}};
  for (int t = 5; t < 10; ++t) items.push_back({"c.py::t" + std::to_string(t), ""});
  Scheduler s(DistMode::LoadFile, items, 1);
  ASSERT_EQ(s.next_batch(0), (Indices{0, 1, 2, 3, 4}));
  s.on_finished(0, 0);
  EXPECT_EQ(s.on_worker_lost(0, 1), (Indices{2, 3, 4}));
  EXPECT_EQ(s.never_handed_out(), (Indices{2, 3, 4, 5, 6, 7, 8, 9}));

  // With 16 workers the target is 1, so each batch is exactly one unit: {2}, {3,4}, then c.
  Scheduler wide(DistMode::LoadFile, items, 16);
  ASSERT_EQ(wide.next_batch(0), (Indices{0, 1, 2}));
  ASSERT_EQ(wide.next_batch(1), (Indices{3, 4}));
  wide.on_finished(0, 0);
  EXPECT_EQ(wide.on_worker_lost(0, std::nullopt), (Indices{1, 2}));
  EXPECT_EQ(wide.next_batch(2), (Indices{1, 2})) << "the rest of file a, whole, first";
  EXPECT_EQ(wide.next_batch(3), (Indices{5, 6, 7, 8, 9}));
  EXPECT_TRUE(wide.all_handed_out());
}

TEST(Scheduler, LostWorkerHoldingSeveralUnitsRequeuesThemInOrder) {
  std::vector<ScheduledItem> items = {{"a.py::t0", ""}, {"a.py::t1", ""}, {"b.py::t2", ""},
                                      {"b.py::t3", ""}, {"c.py::t4", ""}, {"c.py::t5", ""}};
  for (int t = 6; t < 12; ++t) items.push_back({"d.py::t" + std::to_string(t), ""});
  Scheduler s(DistMode::LoadFile, items, 1);  // target ceil(12/2) = 6: a, b, c
  ASSERT_EQ(s.next_batch(0), (Indices{0, 1, 2, 3, 4, 5}));
  s.on_finished(0, 0);
  s.on_finished(0, 1);
  s.on_finished(0, 2);
  EXPECT_EQ(s.on_worker_lost(0, 3), (Indices{4, 5}));
  EXPECT_EQ(s.never_handed_out(), (Indices{4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(Scheduler, StopHandsOutNothingMore) {
  Scheduler s(DistMode::Load, numbered(20), 2);
  Indices a = s.next_batch(0);  // 5
  Indices b = s.next_batch(1);  // 4
  ASSERT_EQ(a.size() + b.size(), 9u);
  EXPECT_FALSE(s.stopped());
  s.stop();
  EXPECT_TRUE(s.stopped());
  for (std::size_t i : a) s.on_finished(0, i);
  EXPECT_TRUE(s.next_batch(0).empty());
  EXPECT_FALSE(s.all_handed_out());
  Indices rest = s.never_handed_out();
  ASSERT_EQ(rest.size(), 11u);
  EXPECT_EQ(rest.front(), 9u);
  // A worker shut down with tests in hand: they join the not-run list, at the front.
  s.on_finished(1, b[0]);
  s.on_worker_lost(1, std::nullopt);
  rest = s.never_handed_out();
  ASSERT_EQ(rest.size(), 11u + b.size() - 1);
  EXPECT_EQ(rest.front(), b[1]);
  EXPECT_TRUE(s.next_batch(1).empty());
}

TEST(Scheduler, EmptyCollectionAndBadSlot) {
  Scheduler s(DistMode::LoadScope, {}, 3);
  EXPECT_TRUE(s.all_handed_out());
  EXPECT_TRUE(s.next_batch(2).empty());
  EXPECT_TRUE(s.never_handed_out().empty());
  EXPECT_THROW(s.next_batch(3), std::out_of_range);
  EXPECT_THROW(s.held(-1), std::out_of_range);
}

// The unit key of an item, as the test sees it (files/scopes/groups), for checking that a
// unit's unfinished tests are always together.
std::string unit_key(DistMode mode, const ScheduledItem& item, std::size_t index) {
  switch (mode) {
    case DistMode::Load:
      return std::to_string(index);
    case DistMode::LoadFile:
      return item.nodeid.substr(0, item.nodeid.find("::"));
    case DistMode::LoadScope:
      return item.nodeid.substr(0, item.nodeid.rfind("::"));
    case DistMode::LoadGroup:
      return item.group.empty() ? std::to_string(index) : "@" + item.group;
  }
  return "";
}

// One seeded run: workers run their tests in order, results and losses arrive at random,
// sometimes --maxfail stops the run. Checks every index completes (or stays queued after a
// stop) exactly once, never goes to two workers, and a unit is never split across workers.
void simulate(unsigned seed) {
  std::mt19937 rng(seed);
  const auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  const DistMode mode = static_cast<DistMode>(pick(4));
  const int workers = static_cast<int>(1 + pick(6));
  const std::size_t n = pick(400);
  std::vector<ScheduledItem> items;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = "d/f" + std::to_string(pick(12)) + ".py::";
    if (pick(2)) id += "TestK" + std::to_string(pick(3)) + "::";
    id += "test_" + std::to_string(i);
    items.push_back({id, pick(3) == 0 ? "g" + std::to_string(pick(4)) : ""});
  }
  SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + dist_mode_name(mode) + " workers " +
               std::to_string(workers) + " tests " + std::to_string(n));
  const bool will_stop = pick(4) == 0;

  Scheduler s(mode, items, workers);
  std::vector<std::deque<std::size_t>> held(workers);
  std::vector<int> owner(n, -1);
  std::vector<int> completed(n, 0);
  std::vector<int> handed(n, 0);
  std::size_t events = 0;
  const auto refill = [&](int w) {
    for (std::size_t i : s.next_batch(w)) {
      ASSERT_LT(i, n);
      ASSERT_EQ(owner[i], -1) << "index " << i << " handed while held";
      ASSERT_EQ(completed[i], 0) << "index " << i << " handed after it completed";
      owner[i] = w;
      ++handed[i];
      held[w].push_back(i);
    }
  };
  const auto check_units_whole = [&]() {
    std::map<std::string, int> where;  // key -> owner of its unfinished tests (-1 queued)
    for (std::size_t i = 0; i < n; ++i) {
      if (completed[i]) continue;
      auto [it, inserted] = where.try_emplace(unit_key(mode, items[i], i), owner[i]);
      ASSERT_TRUE(inserted || it->second == owner[i]) << "unit split at index " << i;
    }
  };

  for (int w = 0; w < workers; ++w) refill(w);
  while (true) {
    std::vector<int> busy;
    for (int w = 0; w < workers; ++w) {
      if (!held[w].empty()) busy.push_back(w);
    }
    if (busy.empty()) break;
    const int w = busy[pick(busy.size())];
    ++events;
    if (will_stop && events == 1 + n / 3) s.stop();
    if (pick(30) == 0) {
      // The worker dies, maybe while running its current test.
      std::optional<std::size_t> lost;
      if (pick(3) != 0) lost = held[w].front();
      Indices requeued = s.on_worker_lost(w, lost);
      std::set<std::size_t> expected(held[w].begin(), held[w].end());
      if (lost) expected.erase(*lost);
      ASSERT_EQ(std::set<std::size_t>(requeued.begin(), requeued.end()), expected);
      ASSERT_EQ(requeued.size(), expected.size());
      Indices front = s.never_handed_out();
      ASSERT_GE(front.size(), requeued.size());
      ASSERT_TRUE(std::equal(requeued.begin(), requeued.end(), front.begin()))
          << "requeued at the front";
      for (std::size_t i : held[w]) owner[i] = -1;
      if (lost) ++completed[*lost];
      held[w].clear();
      // A replacement starts in the slot; idle workers are offered the requeued tests too.
      for (int v = 0; v < workers; ++v) refill(v);
    } else {
      const std::size_t i = held[w].front();
      held[w].pop_front();
      s.on_finished(w, i);
      owner[i] = -1;
      ++completed[i];
      refill(w);
    }
    ASSERT_EQ(s.held(w), held[w].size());
    if (mode != DistMode::Load) check_units_whole();
  }

  Indices queued = s.never_handed_out();
  EXPECT_EQ(queued.empty(), s.all_handed_out());
  if (!s.stopped()) {
    EXPECT_TRUE(queued.empty());
  }
  std::vector<int> total = completed;
  for (std::size_t i : queued) ++total[i];
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(total[i], 1) << "index " << i << " handed " << handed[i] << " times";
  }
}

TEST(Scheduler, RandomRunsCompleteEveryTestExactlyOnce) {
  for (unsigned seed = 1; seed <= 300; ++seed) {
    simulate(seed);
    if (HasFatalFailure()) return;
  }
}

TEST(Scheduler, FiveThousandTestsAreCheap) {
  std::vector<ScheduledItem> items;
  for (int i = 0; i < 20000; ++i) {
    items.push_back({"pkg/test_m" + std::to_string(i / 40) + ".py::TestC" + std::to_string(i % 3) +
                         "::test_" + std::to_string(i),
                     ""});
  }
  for (DistMode mode : {DistMode::Load, DistMode::LoadScope}) {
    const auto t0 = std::chrono::steady_clock::now();
    Scheduler s(mode, items, 8);
    std::vector<std::deque<std::size_t>> held(8);
    std::size_t done = 0;
    for (int w = 0; w < 8; ++w) {
      for (std::size_t i : s.next_batch(w)) held[w].push_back(i);
    }
    while (done < items.size()) {
      for (int w = 0; w < 8; ++w) {
        if (held[w].empty()) continue;
        s.on_finished(w, held[w].front());
        held[w].pop_front();
        ++done;
        for (std::size_t i : s.next_batch(w)) held[w].push_back(i);
      }
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ timing   ] scheduler %s: 20000 tests, 8 workers: %.2f ms\n",
                dist_mode_name(mode), ms);
    EXPECT_TRUE(s.all_handed_out());
    EXPECT_LT(ms, 1000.0);
  }
}

}  // namespace
}  // namespace bulkhead

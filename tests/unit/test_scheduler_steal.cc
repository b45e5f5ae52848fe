// Unit tests of the scheduler's duration-aware parts: shard selection, long units first,
// batches sized by expected time, and work stealing (what may be asked back, what the victim's
// answer does), plus a seeded simulation with steals checking every test ends exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "src/run/scheduler.h"

namespace bulkhead {
namespace {

using Indices = std::vector<std::size_t>;

std::vector<ScheduledItem> numbered(std::size_t n) {
  std::vector<ScheduledItem> items;
  for (std::size_t i = 0; i < n; ++i) items.push_back({"t.py::test_" + std::to_string(i), ""});
  return items;
}

TEST(SchedulerPlan, SelectionLimitsTheRun) {
  WorkPlan plan;
  plan.selected = {true, false, true, false, true};
  Scheduler s(DistMode::Load, numbered(5), 1, plan);
  EXPECT_EQ(s.scheduled(), 3u);
  EXPECT_EQ(s.never_handed_out(), (Indices{0, 2, 4}));
  EXPECT_FALSE(s.holds(0, 1));
  s.on_finished(0, 1);  // a report for an unselected test changes nothing
  EXPECT_EQ(s.held(0), 0u);
}

TEST(SchedulerPlan, LongUnitsGoFirstOthersKeepCollectionOrder) {
  WorkPlan plan;
  plan.expected_s = {0.01, 0.01, 2.0, 0.01, 0.5, 0.01, 3.0, 0.01};
  Scheduler s(DistMode::Load, numbered(8), 64, plan);
  Indices order;
  for (Indices b = s.next_batch(0); !b.empty(); b = s.next_batch(0)) {
    for (std::size_t i : b) {
      order.push_back(i);
      s.on_finished(0, i);
    }
  }
  EXPECT_EQ(order, (Indices{6, 2, 4, 0, 1, 3, 5, 7}));
  EXPECT_TRUE(s.durations_known());
}

TEST(SchedulerPlan, OrderJudgesTheCallNotTheFixtureSetup) {
  // Test 0 carries its module's 0.2 s fixture setup, its call is as short as the others':
  // it is not hoisted away from its module.
  WorkPlan plan;
  plan.expected_s = {0.2, 0.001, 0.001, 0.001};
  plan.order_s = {0.001, 0.001, 0.001, 0.001};
  Scheduler s(DistMode::Load, numbered(4), 64, plan);
  EXPECT_EQ(s.next_batch(0), (Indices{0}));
}

TEST(SchedulerPlan, BatchesAreSizedByExpectedTime) {
  // 2 workers, 4 tests of 10 s then 40 of 0.1 s (14 s): the first batch holds one long test,
  // the short ones come many at a time.
  WorkPlan plan;
  for (int i = 0; i < 4; ++i) plan.expected_s.push_back(10);
  for (int i = 0; i < 40; ++i) plan.expected_s.push_back(0.1);
  Scheduler s(DistMode::Load, numbered(44), 2, plan);
  EXPECT_EQ(s.next_batch(0), (Indices{0}));
  EXPECT_EQ(s.next_batch(1), (Indices{1}));
  s.on_finished(0, 0);
  EXPECT_EQ(s.next_batch(0), (Indices{2}));
  s.on_finished(0, 2);
  EXPECT_EQ(s.next_batch(0), (Indices{3}));
  s.on_finished(0, 3);
  // 4 s left over 4 shares: 1 s, i.e. ten 0.1 s tests.
  EXPECT_EQ(s.next_batch(0).size(), 10u);
}

// 64 slots keep the batch target at one unit, so holdings are built a unit at a time.
Scheduler five_tests_worker0_holds_three() {
  Scheduler s(DistMode::Load, numbered(5), 64);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(s.next_batch(0).size(), 1u);
  EXPECT_TRUE(s.next_batch(0).empty()) << "above the watermark";
  EXPECT_EQ(s.next_batch(1), (Indices{3}));
  EXPECT_EQ(s.next_batch(1), (Indices{4}));
  EXPECT_TRUE(s.all_handed_out());
  return s;
}

TEST(SchedulerSteal, TakesFromTheTailNeverTheCommittedTwo) {
  Scheduler s = five_tests_worker0_holds_three();
  // Worker 1 still holds two: taking test 2 would leave it with 3 against worker 0's 2.
  EXPECT_FALSE(s.plan_steal(1).has_value());
  s.on_finished(1, 3);
  s.on_finished(1, 4);
  // Worker 0 holds 0, 1, 2: 0 runs, 1 is its nextitem, 2 may move.
  auto request = s.plan_steal(1);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->victim, 0);
  EXPECT_EQ(request->units, (std::vector<Indices>{{2}}));
  EXPECT_TRUE(s.steal_pending(1));
  EXPECT_FALSE(s.plan_steal(1).has_value()) << "one request at a time";
  EXPECT_EQ(s.on_released(0, {2}), 1u);
  EXPECT_FALSE(s.steal_pending(1));
  EXPECT_FALSE(s.holds(0, 2));
  EXPECT_EQ(s.held(0), 2u);
  EXPECT_EQ(s.never_handed_out(), (Indices{2}));
  EXPECT_EQ(s.next_batch(1), (Indices{2}));
  s.on_finished(0, 2);  // a stale report from the victim about a test it gave back
  EXPECT_EQ(s.held(0), 2u);
  EXPECT_TRUE(s.holds(1, 2));
  // Worker 0's two left are committed: nothing more to take.
  s.on_finished(1, 2);
  EXPECT_FALSE(s.plan_steal(1).has_value());
  EXPECT_FALSE(s.stealable_work_exists(1));
}

TEST(SchedulerSteal, ARefusedStealWaitsForTheVictimsProgress) {
  Scheduler s = five_tests_worker0_holds_three();
  s.on_finished(1, 3);
  s.on_finished(1, 4);
  auto request = s.plan_steal(1);
  ASSERT_TRUE(request.has_value());
  // It had started test 1 and committed test 2 meanwhile (its view is the truth): nothing back.
  EXPECT_EQ(s.on_released(0, {}), 0u);
  EXPECT_TRUE(s.holds(0, 2));
  EXPECT_FALSE(s.plan_steal(1).has_value()) << "not asked again before it makes progress";
  EXPECT_TRUE(s.stealable_work_exists(1));
  s.on_finished(0, 0);
  // Now it holds 1, 2: its committed two.
  EXPECT_FALSE(s.plan_steal(1).has_value());
  EXPECT_FALSE(s.stealable_work_exists(1));
}

TEST(SchedulerSteal, WholeUnitsOnlyAndTheBusiestVictimFirst) {
  // loadfile, 4 files of 3 tests, 3 slots; slot 2 is the thief and takes nothing.
  std::vector<ScheduledItem> items;
  for (int f = 0; f < 4; ++f) {
    for (int t = 0; t < 3; ++t) {
      items.push_back({"f" + std::to_string(f) + ".py::t" + std::to_string(t), ""});
    }
  }
  Scheduler s(DistMode::LoadFile, items, 3);
  ASSERT_EQ(s.next_batch(0), (Indices{0, 1, 2}));
  ASSERT_EQ(s.next_batch(1), (Indices{3, 4, 5}));
  s.on_finished(0, 0);
  ASSERT_EQ(s.next_batch(0), (Indices{6, 7, 8}));
  s.on_finished(1, 3);
  s.on_finished(1, 4);
  ASSERT_EQ(s.next_batch(1), (Indices{9, 10, 11}));
  ASSERT_TRUE(s.all_handed_out());
  // Worker 0 holds 1, 2 | 6, 7, 8 (5 tests), worker 1 holds 5 | 9, 10, 11 (4).
  auto request = s.plan_steal(2);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->victim, 0) << "the busiest";
  EXPECT_EQ(request->units, (std::vector<Indices>{{6, 7, 8}})) << "a whole file";
  // Worker 1's f3 holds its nextitem (5 runs, 9 is next): it stays whole with worker 1.
  EXPECT_EQ(s.on_released(0, {6, 7, 8}), 3u);
  EXPECT_EQ(s.next_batch(2), (Indices{6, 7, 8}));
  EXPECT_FALSE(s.plan_steal(2).has_value());
}

// Seeded runs with random results, losses and steals (answered fully, partly or not at all
// as a worker that started meanwhile would): every index ends exactly once, is held by at most
// one worker, and units stay whole.
void simulate(unsigned seed) {
  std::mt19937 rng(seed);
  const auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  const DistMode mode = static_cast<DistMode>(pick(4));
  const int workers = static_cast<int>(2 + pick(5));
  const std::size_t n = pick(300);
  std::vector<ScheduledItem> items;
  WorkPlan plan;
  for (std::size_t i = 0; i < n; ++i) {
    items.push_back({"d/f" + std::to_string(pick(10)) +
                         ".py::" + (pick(2) ? "TestK" + std::to_string(pick(3)) + "::" : "") +
                         "test_" + std::to_string(i),
                     pick(3) == 0 ? "g" + std::to_string(pick(4)) : ""});
    plan.expected_s.push_back(pick(10) == 0 ? 2.0 : 0.01 * static_cast<double>(1 + pick(5)));
  }
  if (pick(2) == 0) plan.expected_s.clear();
  if (pick(3) == 0) {
    for (std::size_t i = 0; i < n; ++i) plan.selected.push_back(pick(2) == 0);
  }
  SCOPED_TRACE("seed " + std::to_string(seed) + " mode " + dist_mode_name(mode));
  Scheduler s(mode, items, workers, plan);
  std::vector<std::deque<std::size_t>> queue(static_cast<std::size_t>(workers));
  std::vector<int> ended(n, 0);
  std::vector<std::optional<StealRequest>> asked(static_cast<std::size_t>(workers));
  auto refill = [&](int w) {
    for (std::size_t i : s.next_batch(w)) {
      for (auto& q : queue) ASSERT_EQ(std::count(q.begin(), q.end(), i), 0) << "held twice " << i;
      queue[static_cast<std::size_t>(w)].push_back(i);
    }
  };
  for (int w = 0; w < workers; ++w) refill(w);
  for (int step = 0; step < 100000; ++step) {
    std::vector<int> busy;
    for (int w = 0; w < workers; ++w) {
      if (!queue[static_cast<std::size_t>(w)].empty() || asked[static_cast<std::size_t>(w)]) {
        busy.push_back(w);
      }
    }
    if (busy.empty()) break;
    const int w = busy[pick(busy.size())];
    auto& q = queue[static_cast<std::size_t>(w)];
    if (asked[static_cast<std::size_t>(w)] && (q.empty() || pick(2) == 0)) {
      // Answer the steal: units entirely beyond its first two, all or nothing; sometimes it
      // "started" them meanwhile and keeps them.
      const StealRequest request = *asked[static_cast<std::size_t>(w)];
      asked[static_cast<std::size_t>(w)].reset();
      Indices released;
      for (const Indices& unit : request.units) {
        bool free = pick(4) != 0;
        for (std::size_t i : unit) {
          auto at = std::find(q.begin(), q.end(), i);
          free = free && at != q.end() && at - q.begin() >= 2;
        }
        if (!free) continue;
        for (std::size_t i : unit) q.erase(std::find(q.begin(), q.end(), i));
        released.insert(released.end(), unit.begin(), unit.end());
      }
      ASSERT_EQ(s.on_released(w, released), released.size());
    } else if (!q.empty() && pick(40) == 0) {
      std::optional<std::size_t> lost;
      if (pick(2)) {
        lost = q.front();
        ++ended[*lost];
      }
      s.on_worker_lost(w, lost);
      q.clear();
      asked[static_cast<std::size_t>(w)].reset();
    } else if (!q.empty()) {
      const std::size_t i = q.front();
      q.pop_front();
      ++ended[i];
      s.on_finished(w, i);
    }
    for (int v = 0; v < workers; ++v) {
      refill(v);
      if (queue[static_cast<std::size_t>(v)].size() <= 2) {
        if (auto request = s.plan_steal(v)) {
          ASSERT_FALSE(asked[static_cast<std::size_t>(request->victim)]);
          asked[static_cast<std::size_t>(request->victim)] = request;
        }
      }
    }
    for (int v = 0; v < workers; ++v) {
      ASSERT_EQ(s.held(v), queue[static_cast<std::size_t>(v)].size()) << "worker " << v;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const bool selected = plan.selected.empty() || plan.selected[i];
    ASSERT_EQ(ended[i], selected ? 1 : 0) << "index " << i;
  }
  EXPECT_TRUE(s.all_handed_out());
}

TEST(SchedulerSteal, RandomRunsWithStealsEndEveryTestExactlyOnce) {
  for (unsigned seed = 1; seed <= 300; ++seed) {
    simulate(seed);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace bulkhead

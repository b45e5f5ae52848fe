// bisect_predecessors: one polluter in 2000 in a log-like number of rounds, two polluters that
// only pollute together, a flaky polluter or test never named as found, and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "src/diagnose/delta_debug.h"

namespace bulkhead {
namespace {

// A simulated test whose replay fails when `needed` all precede it; counts widths.
struct Simulation {
  std::set<std::size_t> needed;
  int width = 1;
  bool fails_alone = false;
  int max_batch = 0;

  TrialBatch runner() {
    return [this](const std::vector<std::vector<std::size_t>>& sets) {
      max_batch = std::max(max_batch, static_cast<int>(sets.size()));
      std::vector<Trial> trials;
      for (const auto& set : sets) {
        const bool all_there = std::all_of(needed.begin(), needed.end(), [&set](std::size_t p) {
          return std::binary_search(set.begin(), set.end(), p);
        });
        trials.push_back(fails_alone || (all_there && !needed.empty()) ? Trial::Fails
                                                                       : Trial::Passes);
      }
      return trials;
    };
  }
};

TEST(DeltaDebug, OnePolluterIn2000InLogRounds) {
  // Rounds for the worst polluter position, by width; the bound docs/benchmarks.md states.
  for (int width : {1, 2, 4}) {
    int worst = 0;
    for (std::size_t polluter : {0ul, 1ul, 777ul, 1000ul, 1999ul}) {
      Simulation sim{{polluter}, width};
      const BisectOutcome out = bisect_predecessors(2000, width, sim.runner());
      ASSERT_EQ(out.verdict, BisectOutcome::Verdict::Found) << "width " << width;
      EXPECT_EQ(out.polluters, std::vector<std::size_t>{polluter});
      EXPECT_LE(sim.max_batch, width);
      worst = std::max(worst, out.rounds);
    }
    // The first round(s): the test after all 2000 and alone, twice each; then the search,
    // log2(2000) = 11 halvings at width 2 (both halves may be needed at width 1), log4 = 6 at
    // width 4; then the set found twice and the test alone again.
    const int search = static_cast<int>(std::ceil(std::log(2000.0) / std::log(std::max(width, 2))));
    const int bound =
        (4 + width - 1) / width + (width == 1 ? 2 * search : search) + (3 + width - 1) / width;
    EXPECT_LE(worst, bound) << "width " << width;
    RecordProperty("worst_rounds_width_" + std::to_string(width), worst);
    std::printf("2000 predecessors, one polluter, width %d: %d rounds at worst (bound %d)\n", width,
                worst, bound);
  }
}

TEST(DeltaDebug, TwoPollutersThatOnlyPolluteTogether) {
  for (int width : {1, 2, 4}) {
    Simulation sim{{123, 1500}, width};
    const BisectOutcome out = bisect_predecessors(2000, width, sim.runner());
    ASSERT_EQ(out.verdict, BisectOutcome::Verdict::Found);
    EXPECT_EQ(out.polluters, (std::vector<std::size_t>{123, 1500}));
    EXPECT_LT(out.rounds, 120) << "width " << width;
  }
}

TEST(DeltaDebug, NeighbouringPollutersTogether) {
  Simulation sim{{10, 11, 12}, 2};
  const BisectOutcome out = bisect_predecessors(300, 2, sim.runner());
  ASSERT_EQ(out.verdict, BisectOutcome::Verdict::Found);
  EXPECT_EQ(out.polluters, (std::vector<std::size_t>{10, 11, 12}));
}

TEST(DeltaDebug, FailsAloneIsNotBisected) {
  Simulation sim{{5}, 2, true};
  const BisectOutcome out = bisect_predecessors(300, 2, sim.runner());
  EXPECT_EQ(out.verdict, BisectOutcome::Verdict::FailsAlone);
  EXPECT_TRUE(out.polluters.empty());
  EXPECT_EQ(out.rounds, 2);  // the test alone and after all of them, twice each, 2 at once
}

TEST(DeltaDebug, SequenceThatNoLongerFails) {
  Simulation sim{{}, 2};
  const BisectOutcome out = bisect_predecessors(300, 2, sim.runner());
  EXPECT_EQ(out.verdict, BisectOutcome::Verdict::NotReproduced);
  EXPECT_FALSE(out.note.empty());
}

TEST(DeltaDebug, NoPredecessors) {
  Simulation failing{{}, 1, true};
  EXPECT_EQ(bisect_predecessors(0, 1, failing.runner()).verdict,
            BisectOutcome::Verdict::FailsAlone);
  Simulation passing{{}, 1};
  EXPECT_EQ(bisect_predecessors(0, 1, passing.runner()).verdict,
            BisectOutcome::Verdict::NotReproduced);
}

// A polluter that pollutes only half the time: the search may go astray. The checks around it
// (the whole sequence twice, the set found twice, each of its tests left out once) make naming
// an innocent test beside the polluter rare (and one without it impossible); measured here over
// 1000 searches.
TEST(DeltaDebug, FlakyPolluterIsRarelyMisnamed) {
  int found = 0, flaky = 0, misnamed = 0;
  for (unsigned seed = 1; seed <= 1000; ++seed) {
    std::mt19937 random(seed);
    TrialBatch run = [&random](const std::vector<std::vector<std::size_t>>& sets) {
      std::vector<Trial> trials;
      for (const auto& set : sets) {
        const bool there = std::binary_search(set.begin(), set.end(), std::size_t{42});
        trials.push_back(there && random() % 2 ? Trial::Fails : Trial::Passes);
      }
      return trials;
    };
    const BisectOutcome out = bisect_predecessors(500, 2, run);
    if (out.verdict != BisectOutcome::Verdict::Found) {
      EXPECT_TRUE(out.polluters.empty());
      ++flaky;
    } else if (out.polluters == std::vector<std::size_t>{42}) {
      ++found;
    } else {
      // Every failing replay held the polluter, so whatever is named holds it too.
      EXPECT_TRUE(std::binary_search(out.polluters.begin(), out.polluters.end(), 42u));
      ++misnamed;
    }
  }
  std::printf("polluting half the time: %d found, %d flaky, %d named with others of 1000\n", found,
              flaky, misnamed);
  EXPECT_GT(flaky, 500);    // mostly told as flaky
  EXPECT_LE(misnamed, 10);  // an innocent test named beside it: 0.6 % measured, 1 % allowed
}

// A test that fails at random (one time in three) whatever ran before it: named as polluted
// by no more than 0.5 % of searches.
TEST(DeltaDebug, FlakyTestRarelyNamesAPolluter) {
  int misnamed = 0;
  for (unsigned seed = 1; seed <= 1000; ++seed) {
    std::mt19937 random(seed);
    TrialBatch run = [&random](const std::vector<std::vector<std::size_t>>& sets) {
      std::vector<Trial> trials;
      for (std::size_t i = 0; i < sets.size(); ++i) {
        trials.push_back(random() % 3 == 0 ? Trial::Fails : Trial::Passes);
      }
      return trials;
    };
    const BisectOutcome out = bisect_predecessors(2000, 4, run);
    if (out.verdict == BisectOutcome::Verdict::Found)
      ++misnamed;
    else
      EXPECT_TRUE(out.polluters.empty());
  }
  std::printf("failing at random 1 in 3: %d of 1000 searches named a polluter\n", misnamed);
  EXPECT_LE(misnamed, 5);
}

TEST(DeltaDebug, UnresolvedCountsAsNotFailing) {
  // Candidates holding position 7 (a test that hangs its sandbox) never resolve.
  TrialBatch run = [](const std::vector<std::vector<std::size_t>>& sets) {
    std::vector<Trial> trials;
    for (const auto& set : sets) {
      const bool has = [&set](std::size_t p) {
        return std::binary_search(set.begin(), set.end(), p);
      }(7);
      const bool polluted = std::binary_search(set.begin(), set.end(), std::size_t{90});
      trials.push_back(has && polluted && set.size() < 100 ? Trial::Unresolved
                       : polluted                          ? Trial::Fails
                                                           : Trial::Passes);
    }
    return trials;
  };
  const BisectOutcome out = bisect_predecessors(100, 2, run);
  ASSERT_EQ(out.verdict, BisectOutcome::Verdict::Found);
  EXPECT_EQ(out.polluters, std::vector<std::size_t>{90});
}

}  // namespace
}  // namespace bulkhead

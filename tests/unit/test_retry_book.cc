// Unit tests of the retry decisions (src/retry/retry_book.*): predecessors per sandbox, the
// rounds alone, the replays, and each verdict.
#include <gtest/gtest.h>

#include "src/retry/retry_book.h"
#include "src/run/scheduler.h"

namespace bulkhead {
namespace {

using Indices = std::vector<std::size_t>;

// gw0's first sandbox ran 0, 2, 4 (in that order, by start time), its replacement 6; gw1 ran
// 1, 3, 5.
std::vector<RanTest> two_workers(std::vector<std::size_t> failed) {
  std::vector<RanTest> ran = {
      {0, "gw0", 0, 10.0}, {1, "gw1", 0, 10.5}, {2, "gw0", 0, 11.0}, {3, "gw1", 0, 11.5},
      {4, "gw0", 0, 12.0}, {5, "gw1", 0, 12.5}, {6, "gw0", 1, 13.0}, {7, "", -1, 0},
  };
  for (std::size_t index : failed) ran[index].failed = true;
  return ran;
}

TEST(Predecessors, AreTheTestsItsOwnSandboxRanBeforeItInOrder) {
  std::vector<RanTest> ran = two_workers({});
  std::swap(ran[0], ran[4]);  // input order does not matter: start times do
  EXPECT_EQ(predecessors_of(ran, 4), (Indices{0, 2}));
  EXPECT_EQ(predecessors_of(ran, 5), (Indices{1, 3}));
  EXPECT_EQ(predecessors_of(ran, 0), Indices{});
  EXPECT_EQ(predecessors_of(ran, 6), Indices{});  // a replacement sandbox starts afresh
  EXPECT_EQ(predecessors_of(ran, 7), Indices{});  // never ran
}

TEST(RetryBook, AConsistentFailureFailsEveryRoundAlone) {
  RetryBook book(two_workers({4}), 2);
  EXPECT_EQ(book.next_alone_round(), Indices{4});
  book.alone_result(4, false);
  EXPECT_EQ(book.verdict(4), Verdict::Pending);
  EXPECT_EQ(book.next_alone_round(), Indices{4});
  book.alone_result(4, false);
  EXPECT_EQ(book.next_alone_round(), Indices{});
  EXPECT_TRUE(book.replays().empty());
  EXPECT_EQ(book.verdict(4), Verdict::Failed);
  EXPECT_STREQ(verdict_name(book.verdict(4)), "failed");
}

TEST(RetryBook, PassingAloneThenFailingAfterItsPredecessorsIsOrderDependent) {
  RetryBook book(two_workers({4, 5}), 2);
  EXPECT_EQ(book.next_alone_round(), (Indices{4, 5}));
  book.alone_result(4, true);
  book.alone_result(5, true);
  EXPECT_EQ(book.next_alone_round(), Indices{});
  const auto replays = book.replays();
  ASSERT_EQ(replays.size(), 2u);
  EXPECT_EQ(replays[0].sequence, (Indices{0, 2, 4}));
  EXPECT_EQ(replays[1].sequence, (Indices{1, 3, 5}));
  EXPECT_EQ(book.predecessors(4), 2u);
  book.replay_result(4, false);
  book.replay_result(5, true);
  EXPECT_EQ(book.verdict(4), Verdict::OrderDependent);
  EXPECT_STREQ(verdict_name(Verdict::OrderDependent), "order-dependent");
  EXPECT_EQ(book.verdict(5), Verdict::Flaky);  // the replay did not bring it back
  EXPECT_TRUE(book.replays().empty());
}

TEST(RetryBook, FailingAloneOnceThenPassingIsFlakyWithoutAReplay) {
  RetryBook book(two_workers({2}), 3);
  book.alone_result(2, false);
  EXPECT_EQ(book.next_alone_round(), Indices{2});
  book.alone_result(2, true);
  EXPECT_EQ(book.next_alone_round(), Indices{});
  EXPECT_TRUE(book.replays().empty());
  EXPECT_EQ(book.verdict(2), Verdict::Flaky);
}

TEST(RetryBook, TheFirstTestOfItsSandboxHasNothingToReplay) {
  RetryBook book(two_workers({0, 6}), 1);
  book.alone_result(0, true);
  book.alone_result(6, true);
  EXPECT_TRUE(book.replays().empty());
  EXPECT_EQ(book.verdict(0), Verdict::Flaky);
  EXPECT_EQ(book.verdict(6), Verdict::Flaky);
  EXPECT_EQ(book.failed_tests(), (Indices{0, 6}));
}

TEST(SchedulerSequence, HandsOutExactlyTheSequenceInItsOrder) {
  std::vector<ScheduledItem> items;
  for (int i = 0; i < 6; ++i) items.push_back({"t.py::test_" + std::to_string(i), ""});
  WorkPlan plan;
  plan.sequence = {4, 1, 3};
  Scheduler s(DistMode::LoadFile, items, 1, plan);
  EXPECT_EQ(s.scheduled(), 3u);
  Indices seen;
  for (Indices batch = s.next_batch(0); !batch.empty(); batch = s.next_batch(0)) {
    for (std::size_t i : batch) {
      seen.push_back(i);
      s.on_finished(0, i);
    }
  }
  EXPECT_EQ(seen, (Indices{4, 1, 3}));
  plan.sequence = {1, 1};
  EXPECT_THROW(Scheduler(DistMode::Load, items, 1, plan), std::invalid_argument);
}

}  // namespace
}  // namespace bulkhead

// Unit tests for the supervisor's channel trust rules: what a worker may say, given what it
// was handed.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "src/run/channel_guard.h"

namespace bulkhead {
namespace {

using protocol::CollectedEvent;
using protocol::CollectedItem;
using protocol::DoneEvent;
using protocol::Event;
using protocol::FinishedEvent;
using protocol::ReportEvent;
using protocol::StartEvent;
using protocol::TimeoutEvent;
using protocol::WarningEvent;

const std::vector<CollectedItem> kTests = {
    {"t.py::a", ""}, {"t.py::b", ""}, {"t.py::c", ""}, {"t.py::d", ""}};

CollectedEvent collected() {
  CollectedEvent event;
  event.protocol = protocol::kProtocolVersion;
  event.items = kTests;
  return event;
}

ReportEvent report(std::size_t index) {
  ReportEvent event;
  event.index = index;
  event.report.phase.when = "call";
  event.report.phase.outcome = "passed";
  return event;
}

// A guard for a worker that collected and was handed `handed`.
ChannelGuard collected_guard(const std::vector<std::size_t>& handed) {
  ChannelGuard guard;
  EXPECT_EQ(guard.admit(collected(), &kTests), std::nullopt);
  guard.handed(handed);
  return guard;
}

// Runs one test through start, three reports and finished, expecting each to be admitted.
void run_test(ChannelGuard& guard, std::size_t index) {
  EXPECT_EQ(guard.admit(StartEvent{index, std::nullopt}, &kTests), std::nullopt);
  for (int phase = 0; phase < 3; ++phase) {
    EXPECT_EQ(guard.admit(report(index), &kTests), std::nullopt);
  }
  EXPECT_EQ(guard.admit(FinishedEvent{index}, &kTests), std::nullopt);
}

std::string refusal(ChannelGuard& guard, const Event& event) {
  auto refused = guard.admit(event, &kTests);
  EXPECT_TRUE(refused.has_value());
  return refused.value_or("");
}

TEST(ChannelGuard, AdmitsAnHonestWorkersSession) {
  ChannelGuard guard;
  EXPECT_EQ(guard.admit(WarningEvent{"collect", "", "unknown mark"}, nullptr), std::nullopt);
  EXPECT_EQ(guard.admit(collected(), nullptr), std::nullopt);  // before any agreed collection
  EXPECT_TRUE(guard.collected());
  guard.handed({2, 0});
  EXPECT_EQ(guard.admit(StartEvent{2, 1.5}, &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(TimeoutEvent{2, 3.0}, &kTests), std::nullopt);
  EXPECT_EQ(guard.running(), std::optional<std::size_t>(2));
  EXPECT_EQ(guard.admit(report(2), &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(FinishedEvent{2}, &kTests), std::nullopt);
  EXPECT_EQ(guard.running(), std::nullopt);
  guard.handed({3});
  run_test(guard, 0);
  run_test(guard, 3);
  EXPECT_EQ(guard.admit(ReportEvent{}, &kTests), std::nullopt);  // no index: ignored upstream
  EXPECT_EQ(guard.admit(DoneEvent{}, &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(WarningEvent{"config", "", "late"}, &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(protocol::InternalErrorEvent{"boom"}, &kTests), std::nullopt);
}

TEST(ChannelGuard, AdmitsARealWorkersTranscript) {
  // fuzz/corpus/protocol/honest_session: what bulkhead_worker.py sent for a four-test file
  // (pass, fail, skip, xfail with a warning) handed [1, 3, 0]; its first byte is the fuzzer's.
  std::ifstream in(std::string(BULKHEAD_SOURCE_DIR) + "/fuzz/corpus/protocol/honest_session");
  ASSERT_TRUE(in.good());
  std::string line;
  in.ignore(1);
  ChannelGuard guard;
  std::optional<ChannelGuard::Collection> collection;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    const Event event = guard.accept(line, collection ? &*collection : nullptr);  // no throw
    if (const auto* collected = std::get_if<CollectedEvent>(&event)) {
      collection = collected->items;
      guard.handed({1, 3, 0});
    }
    ++lines;
  }
  EXPECT_EQ(lines, 18u);
  EXPECT_FALSE(guard.running().has_value());
  EXPECT_EQ(refusal(guard, DoneEvent{}), "a second `done`");
}

TEST(ChannelGuard, RefusesResultsForTestsTheWorkerWasNotGiven) {
  ChannelGuard guard = collected_guard({0, 1});
  EXPECT_EQ(guard.admit(StartEvent{0, std::nullopt}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, report(2)),
            "`report` for test 2 (t.py::c), which this worker was not given");
  EXPECT_EQ(refusal(guard, FinishedEvent{3}),
            "`finished` for test 3 (t.py::d), which this worker was not given");
  EXPECT_EQ(refusal(guard, TimeoutEvent{2, 1}),
            "`timeout` for test 2 (t.py::c), which this worker was not given");
  // Handed but not started yet: not its result to give either.
  EXPECT_EQ(refusal(guard, report(1)),
            "`report` for test 1 (t.py::b), which this worker has "
            "not started");
  // A refused event changes nothing: the running test still ends normally.
  EXPECT_EQ(guard.running(), std::optional<std::size_t>(0));
  EXPECT_EQ(guard.admit(FinishedEvent{0}, &kTests), std::nullopt);
}

TEST(ChannelGuard, RefusesASecondResultForTheSameTest) {
  ChannelGuard guard = collected_guard({0, 1});
  run_test(guard, 0);
  EXPECT_EQ(refusal(guard, report(0)),
            "`report` for test 0 (t.py::a), which this worker already finished (a second result)");
  EXPECT_EQ(refusal(guard, FinishedEvent{0}),
            "`finished` for test 0 (t.py::a), which this worker already finished (a second "
            "result)");
  EXPECT_EQ(refusal(guard, StartEvent{0, std::nullopt}),
            "`start` of test 0 (t.py::a), which this worker already ran (a second result)");
  // Even while running the next one.
  EXPECT_EQ(guard.admit(StartEvent{1, std::nullopt}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, StartEvent{1, std::nullopt}), "a second `start` of test 1 (t.py::b)");
  EXPECT_NE(refusal(guard, FinishedEvent{0}).find("a second result"), std::string::npos);
}

TEST(ChannelGuard, RefusesUnknownIndices) {
  ChannelGuard guard = collected_guard({0});
  EXPECT_EQ(refusal(guard, StartEvent{99, std::nullopt}),
            "`start` of test index 99 (only 4 tests were collected)");
  EXPECT_EQ(refusal(guard, report(4)), "`report` for test index 4 (only 4 tests were collected)");
  EXPECT_EQ(refusal(guard, FinishedEvent{static_cast<std::size_t>(-1)}),
            "`finished` for test index 18446744073709551615 (only 4 tests were collected)");
}

TEST(ChannelGuard, StartsFollowTheOrderTestsWereHanded) {
  ChannelGuard guard = collected_guard({1, 3});
  EXPECT_EQ(refusal(guard, StartEvent{3, std::nullopt}),
            "`start` of test 3 (t.py::d) before test 1 (t.py::b), handed to it first");
  EXPECT_EQ(guard.admit(StartEvent{1, std::nullopt}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, StartEvent{3, std::nullopt}),
            "`start` of test 3 (t.py::d) while test 1 (t.py::b) is running");
}

TEST(ChannelGuard, RefusesEventsOutOfTheSessionsOrder) {
  ChannelGuard fresh;
  EXPECT_EQ(refusal(fresh, StartEvent{0, std::nullopt}),
            "`start` of test 0 (t.py::a) before this worker's `collected`");
  EXPECT_EQ(refusal(fresh, DoneEvent{}), "`done` before this worker's `collected`");

  ChannelGuard guard = collected_guard({0, 1});
  EXPECT_EQ(refusal(guard, collected()), "a second `collected`");
  EXPECT_EQ(guard.admit(StartEvent{0, std::nullopt}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, DoneEvent{}), "`done` while test 0 (t.py::a) is running");
  EXPECT_EQ(guard.admit(FinishedEvent{0}, &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(DoneEvent{}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, DoneEvent{}), "a second `done`");
  EXPECT_EQ(refusal(guard, StartEvent{1, std::nullopt}),
            "`start` of test 1 (t.py::b) after its `done`");
}

TEST(ChannelGuard, ReleasedGivesBackOnlyHeldUnstartedTests) {
  using protocol::ReleasedEvent;
  ChannelGuard guard = collected_guard({0, 1, 2, 3});
  EXPECT_EQ(guard.admit(StartEvent{0, std::nullopt}, &kTests), std::nullopt);
  // Work stealing: it gives back 3 (and 2 later); the order of what it keeps is unchanged.
  guard.asked({{3}});
  EXPECT_EQ(guard.admit(ReleasedEvent{{3}}, &kTests), std::nullopt);
  guard.asked({{2}, {3}});
  EXPECT_EQ(guard.admit(ReleasedEvent{{}}, &kTests), std::nullopt);  // a refusal
  guard.asked({{0, 1, 2, 3}});  // refused answers leave it unanswered
  guard.asked({{}});
  EXPECT_EQ(refusal(guard, ReleasedEvent{{2, 0}}),
            "`released` test 0 (t.py::a), which this worker is running");
  EXPECT_EQ(refusal(guard, ReleasedEvent{{3}}),
            "`released` test 3 (t.py::d), which this worker does not hold");
  EXPECT_EQ(refusal(guard, ReleasedEvent{{2, 2}}),
            "`released` test 2 (t.py::c), which this worker does not hold");
  EXPECT_EQ(refusal(guard, ReleasedEvent{{7}}),
            "`released` test index 7 (only 4 tests were collected)");
  EXPECT_EQ(guard.admit(FinishedEvent{0}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, ReleasedEvent{{0}}),
            "`released` test 0 (t.py::a), which this worker already finished");
  // Refused answers took nothing: 1 and 2 still run in order; 3, given back, may not.
  EXPECT_EQ(refusal(guard, StartEvent{3, std::nullopt}),
            "`start` of test 3 (t.py::d), which this worker was not given");
  run_test(guard, 1);
  EXPECT_EQ(guard.admit(ReleasedEvent{{2}}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, report(2)),
            "`report` for test 2 (t.py::c), which this worker was not given");
  EXPECT_EQ(guard.admit(DoneEvent{}, &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(ReleasedEvent{{}}, &kTests), std::nullopt);  // a late answer
}

TEST(ChannelGuard, ReleasedOnlyAnswersASteal) {
  using protocol::ReleasedEvent;
  ChannelGuard guard = collected_guard({0, 1, 2, 3});
  EXPECT_EQ(refusal(guard, ReleasedEvent{{}}), "`released` with no `steal` to answer");
  EXPECT_EQ(refusal(guard, ReleasedEvent{{3}}), "`released` with no `steal` to answer");
  // Answers come in the order steals were sent, each giving back only what its steal named.
  guard.asked({{2}});
  guard.asked({{3}});
  EXPECT_EQ(refusal(guard, ReleasedEvent{{3}}),
            "`released` test 3 (t.py::d), which the `steal` it answers did not ask for");
  EXPECT_EQ(guard.admit(ReleasedEvent{{2}}, &kTests), std::nullopt);
  EXPECT_EQ(guard.admit(ReleasedEvent{{3}}, &kTests), std::nullopt);
  EXPECT_EQ(refusal(guard, ReleasedEvent{{}}), "`released` with no `steal` to answer");
  // What it kept still runs in the order handed, skipping what it gave back.
  EXPECT_EQ(refusal(guard, StartEvent{1, std::nullopt}),
            "`start` of test 1 (t.py::b) before test 0 (t.py::a), handed to it first");
  run_test(guard, 0);
  run_test(guard, 1);
  EXPECT_EQ(refusal(guard, StartEvent{2, std::nullopt}),
            "`start` of test 2 (t.py::c), which this worker was not given");
}

TEST(ChannelGuard, AForkedWorkerHasTheZygotesCollection) {
  ChannelGuard guard;
  EXPECT_EQ(refusal(guard, StartEvent{0, std::nullopt}),
            "`start` of test 0 (t.py::a) before this worker's `collected`");
  guard.forked();  // the zygote collected for it: it goes straight to the tests it is handed
  guard.handed({0, 1});
  run_test(guard, 0);
  EXPECT_EQ(refusal(guard, StartEvent{2, std::nullopt}),
            "`start` of test 2 (t.py::c), which this worker was not given");
  EXPECT_EQ(refusal(guard, collected()), "a second `collected`");
}

TEST(ChannelGuard, RefusesAnotherProtocolVersion) {
  ChannelGuard guard;
  CollectedEvent event = collected();
  event.protocol = 2;
  EXPECT_NE(refusal(guard, event).find("protocol version 2, but this bulkhead speaks version 1"),
            std::string::npos);
  EXPECT_FALSE(guard.collected());
}

TEST(ChannelGuard, RefusesAFloodOfReportsForOneTest) {
  ChannelGuard guard = collected_guard({0});
  EXPECT_EQ(guard.admit(StartEvent{0, std::nullopt}, &kTests), std::nullopt);
  for (std::size_t i = 0; i < ChannelGuard::kMaxReportsPerTest; ++i) {
    ASSERT_EQ(guard.admit(report(0), &kTests), std::nullopt) << i;
  }
  EXPECT_EQ(refusal(guard, report(0)), "more than 1000 `report`s for test 0 (t.py::a)");
}

TEST(ChannelGuard, AcceptDecodesAndThrowsWhatItRefuses) {
  ChannelGuard guard = collected_guard({0});
  const Event event = guard.accept(R"({"event":"start","index":0,"timeout":null})", &kTests);
  EXPECT_EQ(std::get<StartEvent>(event).index, 0u);
  try {
    guard.accept(R"({"event":"finished","index":2})", &kTests);
    FAIL() << "expected ProtocolError";
  } catch (const protocol::ProtocolError& error) {
    EXPECT_STREQ(error.what(), "`finished` for test 2 (t.py::c), which this worker was not given");
  }
  EXPECT_THROW(guard.accept("\x01garbage", &kTests), protocol::ProtocolError);
  EXPECT_THROW(guard.accept(R"({"event":"finished","index":"0"})", &kTests),
               protocol::ProtocolError);
  EXPECT_EQ(guard.running(), std::optional<std::size_t>(0));
}

}  // namespace
}  // namespace bulkhead

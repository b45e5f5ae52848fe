// Unit tests of the result store: every field of a record back as stored (spill and memory),
// loads by index, collection order, replacement, a record bigger than the write buffer, the
// per-test summaries, and no spill file left once the store is gone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "src/report/result_store.h"
#include "src/report/top_memory.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

PhaseReport phase(std::string when, std::string outcome, std::string category) {
  PhaseReport p;
  p.when = std::move(when);
  p.outcome = std::move(outcome);
  p.category = std::move(category);
  p.duration = 0.5;
  p.start = 1700000000.25;
  p.stop = 1700000000.75;
  return p;
}

TestRecord record(std::size_t index, std::string nodeid, std::string call = "passed") {
  TestRecord t;
  t.index = index;
  t.nodeid = std::move(nodeid);
  t.worker = "gw" + std::to_string(index % 2);
  t.sandbox = 1;
  t.seq = static_cast<int>(index);
  t.finished = true;
  t.phases = {phase("setup", "passed", ""), phase("call", call, call),
              phase("teardown", "passed", "")};
  return t;
}

// A record with every field set, odd bytes included.
TestRecord full_record() {
  TestRecord t = record(7, "tests/test_x.py::test[\xff\n\"]", "failed");
  t.phases[1].letter = "F";
  t.phases[1].word = "FAILED";
  t.phases[1].longrepr = std::string("assert 1 == 2\n\0tail", 19);
  t.phases[1].message = "assert 1 == 2";
  t.phases[1].sections = {{"Captured stdout call", "out\n"}, {"Captured log call", ""}};
  t.phases[1].wasxfail = "reason";
  t.phases[1].raw = {{"nodeid", t.nodeid},
                     {"duration", 0.5},
                     {"n", -3},
                     {"big", 18446744073709551615ull},
                     {"user_properties", nlohmann::json::array({nlohmann::json::array({"k", 1})})}};
  t.cause = Cause::Timeout;
  t.cause_message = "Timeout: exceeded 5s";
  t.verdict = "flaky";
  RetryAttempt attempt;
  attempt.kind = "alone";
  attempt.predecessors = 3;
  attempt.worker = "gw9";
  attempt.outcome = "passed";
  attempt.phases = {phase("call", "passed", "passed")};
  attempt.cause = Cause::OOM;
  attempt.cause_message = "OOM";
  attempt.resources = TestResources{1.5, "cgroup", 100, std::nullopt, "test", 4};
  t.attempts = {attempt};
  t.resources = TestResources{std::nullopt, "rusage", 5 << 20, 1 << 20, "sandbox", std::nullopt};
  return t;
}

void expect_same_phase(const PhaseReport& a, const PhaseReport& b) {
  EXPECT_EQ(a.when, b.when);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.letter, b.letter);
  EXPECT_EQ(a.word, b.word);
  EXPECT_EQ(a.duration, b.duration);
  EXPECT_EQ(a.start, b.start);
  EXPECT_EQ(a.stop, b.stop);
  EXPECT_EQ(a.longrepr, b.longrepr);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.sections, b.sections);
  EXPECT_EQ(a.wasxfail, b.wasxfail);
  EXPECT_EQ(a.raw, b.raw);
}

void expect_same_resources(const std::optional<TestResources>& a,
                           const std::optional<TestResources>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) return;
  EXPECT_EQ(a->cpu_s, b->cpu_s);
  EXPECT_EQ(a->cpu_source, b->cpu_source);
  EXPECT_EQ(a->memory_peak_bytes, b->memory_peak_bytes);
  EXPECT_EQ(a->memory_start_bytes, b->memory_start_bytes);
  EXPECT_EQ(a->memory_peak_scope, b->memory_peak_scope);
  EXPECT_EQ(a->pids_started, b->pids_started);
}

void expect_same(const TestRecord& a, const TestRecord& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.nodeid, b.nodeid);
  EXPECT_EQ(a.worker, b.worker);
  EXPECT_EQ(a.sandbox, b.sandbox);
  EXPECT_EQ(a.seq, b.seq);
  ASSERT_EQ(a.phases.size(), b.phases.size());
  for (std::size_t i = 0; i < a.phases.size(); ++i) expect_same_phase(a.phases[i], b.phases[i]);
  EXPECT_EQ(a.cause, b.cause);
  EXPECT_EQ(a.cause_message, b.cause_message);
  EXPECT_EQ(a.finished, b.finished);
  EXPECT_EQ(a.verdict, b.verdict);
  ASSERT_EQ(a.attempts.size(), b.attempts.size());
  for (std::size_t i = 0; i < a.attempts.size(); ++i) {
    EXPECT_EQ(a.attempts[i].kind, b.attempts[i].kind);
    EXPECT_EQ(a.attempts[i].predecessors, b.attempts[i].predecessors);
    EXPECT_EQ(a.attempts[i].worker, b.attempts[i].worker);
    EXPECT_EQ(a.attempts[i].outcome, b.attempts[i].outcome);
    ASSERT_EQ(a.attempts[i].phases.size(), b.attempts[i].phases.size());
    expect_same_phase(a.attempts[i].phases[0], b.attempts[i].phases[0]);
    EXPECT_EQ(a.attempts[i].cause, b.attempts[i].cause);
    EXPECT_EQ(a.attempts[i].cause_message, b.attempts[i].cause_message);
    expect_same_resources(a.attempts[i].resources, b.attempts[i].resources);
  }
  expect_same_resources(a.resources, b.resources);
}

class Backends : public ::testing::TestWithParam<ResultStore::Backend> {};

TEST_P(Backends, EveryFieldComesBackWithItsDisplays) {
  ResultStore store(GetParam());
  const TestRecord stored = full_record();
  protocol::PhaseDisplay display;
  display.head_line = "test[x]";
  display.longrepr_color = "\x1b[31mred\x1b[0m";
  display.skip_path = "tests/test_x.py";
  display.skip_lineno = 12;
  store.put(stored, {protocol::PhaseDisplay{}, display, protocol::PhaseDisplay{}});
  ASSERT_TRUE(store.contains(7));
  EXPECT_FALSE(store.contains(6));
  EXPECT_FALSE(store.contains(8));
  std::vector<protocol::PhaseDisplay> displays;
  expect_same(store.load(7, &displays), stored);
  ASSERT_EQ(displays.size(), 3u);
  EXPECT_EQ(displays[1].head_line, "test[x]");
  EXPECT_EQ(displays[1].longrepr_color, display.longrepr_color);
  EXPECT_EQ(displays[1].skip_path, "tests/test_x.py");
  EXPECT_EQ(displays[1].skip_lineno, 12);
  EXPECT_FALSE(displays[0].skip_lineno);
  EXPECT_THROW(store.load(6), std::out_of_range);
}

TEST_P(Backends, ForEachGoesInCollectionOrderAndLoadsByIndex) {
  ResultStore store(GetParam());
  // Stored as tests end (any order); 2000 of them cross the spill's write buffer.
  const std::size_t n = 2000;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t index = (k * 7919) % n;  // a permutation: 7919 is prime to 2000
    store.put(record(index, "t.py::test[" + std::to_string(index) + "]"));
  }
  EXPECT_EQ(store.size(), n);
  std::size_t expected = 0;
  store.for_each([&](const TestRecord& test) {
    EXPECT_EQ(test.index, expected);
    EXPECT_EQ(test.nodeid, "t.py::test[" + std::to_string(expected) + "]");
    ++expected;
  });
  EXPECT_EQ(expected, n);
  EXPECT_EQ(store.load(1234).nodeid, "t.py::test[1234]");
  EXPECT_EQ(store.load(0).seq, 0);
  EXPECT_EQ(store.indices().size(), n);
}

TEST_P(Backends, ABigRecordComesBackWhole) {
  ResultStore store(GetParam());
  store.put(record(0, "t.py::small"));
  TestRecord big = record(1, "t.py::big", "failed");
  big.phases[1].longrepr = std::string(3 << 20, 'x');  // over the 256 KiB write buffer
  big.phases[1].longrepr.back() = 'y';
  store.put(big);
  store.put(record(2, "t.py::after"));
  EXPECT_EQ(store.load(1).phases[1].longrepr, big.phases[1].longrepr);
  EXPECT_EQ(store.load(0).nodeid, "t.py::small");
  EXPECT_EQ(store.load(2).nodeid, "t.py::after");
  EXPECT_GE(store.bytes_written(), 3u << 20);
}

TEST_P(Backends, ASecondVersionReplacesTheFirstAnIndexClashDoesNot) {
  ResultStore store(GetParam());
  store.put(record(0, "t.py::a", "failed"));
  store.put(record(1, "t.py::b"));
  TestRecord again = record(0, "t.py::a");
  again.verdict = "flaky";
  store.put(again);
  store.put(record(1, "t.py::other"));  // another test under the same index (merged reports)
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.load(0).verdict, "flaky");
  EXPECT_FALSE(store.summary(0).failing);
  std::vector<std::string> seen;
  store.for_each([&](const TestRecord& test) { seen.push_back(test.nodeid); });
  EXPECT_EQ(seen, (std::vector<std::string>{"t.py::a", "t.py::b", "t.py::other"}));
}

INSTANTIATE_TEST_SUITE_P(ResultStore, Backends,
                         ::testing::Values(ResultStore::Backend::Spill,
                                           ResultStore::Backend::Memory),
                         [](const auto& info) {
                           return info.param == ResultStore::Backend::Spill ? "Spill" : "Memory";
                         });

TEST(ResultStore, SummariesHoldWhatTheRunNeedsWithoutALoad) {
  ResultStore store;
  store.put(record(0, "t.py::passes"));
  store.put(record(1, "t.py::fails", "failed"));
  TestRecord skipped = record(2, "t.py::skips", "skipped");
  store.put(skipped);
  TestRecord heavy = record(3, "t.py::heavy");
  heavy.resources = TestResources{};
  heavy.resources->memory_peak_bytes = 300 << 20;
  store.put(heavy);
  TestRecord notrun = record(4, "t.py::notrun");
  notrun.phases.clear();
  notrun.cause = Cause::NotRun;
  notrun.worker = "";
  store.put(notrun);

  EXPECT_TRUE(store.summary(0).plain);
  EXPECT_EQ(store.summary(0).passed_phases, 1);
  EXPECT_FALSE(store.summary(0).failing);
  EXPECT_FALSE(store.summary(1).plain);
  EXPECT_TRUE(store.summary(1).failing);
  EXPECT_FALSE(store.summary(2).plain);
  EXPECT_FALSE(store.summary(4).plain);
  EXPECT_EQ(store.summary(4).cause, Cause::NotRun);
  EXPECT_EQ(store.worker_name(store.summary(1).worker), "gw1");
  EXPECT_EQ(store.worker_name(store.summary(4).worker), "");
  EXPECT_EQ(store.summary(1).seq, 1);
  EXPECT_EQ(store.summary(1).sandbox, 1);
  EXPECT_DOUBLE_EQ(store.summary(1).start, 1700000000.25);
  EXPECT_TRUE(store.summary(3).has_memory_peak);
  EXPECT_EQ(store.summary(3).memory_peak, 300u << 20);
  EXPECT_TRUE(store.any_failing());

  heavy.index = 5;
  heavy.nodeid = "t.py::heavier";
  heavy.resources->memory_peak_bytes = 400 << 20;
  store.put(heavy);
  EXPECT_EQ(top_memory_indices(store, {0, 1, 2, 3, 4, 5}, 1), (std::vector<std::size_t>{5}));
  EXPECT_EQ(top_memory_indices(store, {5, 3}, 0), (std::vector<std::size_t>{5, 3}));
}

// The spill file: created in $TMPDIR, never visible there, and closed with the store.
TEST(ResultStore, TheSpillFileIsUnlinkedAndGoneWithTheStore) {
  const fs::path dir = fs::temp_directory_path() / ("store-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const char* saved = std::getenv("TMPDIR");
  const std::string saved_value = saved ? saved : "";
  ::setenv("TMPDIR", dir.c_str(), 1);
  const auto open_in_dir = [&dir] {
    int count = 0;
    for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
      std::error_code ignored;
      const std::string target = fs::read_symlink(entry.path(), ignored).string();
      count += target.rfind(dir.string() + "/", 0) == 0;
    }
    return count;
  };
  {
    ResultStore store;
    TestRecord big = record(0, "t.py::big");
    big.phases[1].longrepr = std::string(1 << 20, 'x');  // flushed: the file exists now
    store.put(big);
    EXPECT_EQ(open_in_dir(), 1);
    EXPECT_TRUE(fs::is_empty(dir));
    EXPECT_EQ(store.load(0).phases[1].longrepr.size(), 1u << 20);
  }
  EXPECT_EQ(open_in_dir(), 0);
  EXPECT_TRUE(fs::is_empty(dir));
  if (saved) {
    ::setenv("TMPDIR", saved_value.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  fs::remove_all(dir);
}

TEST(ResultStore, AnUnwritableTempDirIsNamedInTheError) {
  const char* saved = std::getenv("TMPDIR");
  const std::string saved_value = saved ? saved : "";
  ::setenv("TMPDIR", "/nonexistent/bulkhead-store", 1);
  ResultStore store;
  TestRecord big = record(0, "t.py::big");
  big.phases[1].longrepr = std::string(1 << 20, 'x');
  try {
    store.put(big);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/bulkhead-store"), std::string::npos)
        << error.what();
  }
  if (saved) {
    ::setenv("TMPDIR", saved_value.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
}

}  // namespace
}  // namespace bulkhead

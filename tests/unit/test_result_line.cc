// Unit tests for result_line (src/record/run_record.h): written field by field, each line is
// byte for byte what the nlohmann tree of the same fields dumps (the way it was built before),
// and reads back into the same test; the fast path that reads lines back (plain_result_line)
// gives what the general reader gives for every line it takes, mutated lines included.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "src/record/run_record.h"
#include "src/report/resources_json.h"
#include "tests/unit/line_mutation.h"

namespace bulkhead::record {
namespace {

using nlohmann::json;

// The reference: the results line as a JSON tree, dumped.
std::string tree_line(const RecordedTest& test) {
  json out = json::object();
  out["index"] = test.index;
  out["nodeid"] = test.nodeid;
  out["worker"] = test.worker;
  out["sandbox"] = test.sandbox;
  out["seq"] = test.seq;
  out["outcome"] = test.outcome;
  out["cause"] = test.cause;
  out["cause_message"] = test.cause_message;
  out["start"] = test.start;
  out["stop"] = test.stop;
  out["duration"] = test.stop > test.start ? test.stop - test.start : 0.0;
  if (test.attempt != 0) {
    out["attempt"] = test.attempt;
    out["kind"] = test.kind;
  }
  if (test.resources) out["resources"] = resources_json(*test.resources);
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<RecordedTest> samples() {
  std::vector<RecordedTest> tests;
  RecordedTest passed;
  passed.index = 7021;
  passed.nodeid = "test_m0035.py::test[21]";
  passed.worker = "gw0";
  passed.sandbox = 0;
  passed.seq = 3;
  passed.outcome = "passed";
  passed.start = 1796144608.124314;
  passed.stop = 1796144608.2571464;
  passed.resources = TestResources{0.072824859, "cgroup", 7114752, 3928064, "test", 0};
  tests.push_back(passed);

  RecordedTest never;  // never ran: no worker, -1 positions, zero times, no resources
  never.index = 0;
  never.nodeid = "t.py::never";
  never.outcome = "notrun";
  never.cause = "notrun";
  never.cause_message = "session timeout of 5s reached before it ran";
  tests.push_back(never);

  RecordedTest odd = passed;  // escapes, UTF-8, bytes that are not UTF-8, control characters
  odd.nodeid = "t.py::test[caf\xc3\xa9-\"q\"-back\\slash-\x01-tab\t-bad\xff-new\nline]";
  odd.cause = "crash";
  odd.cause_message = "killed by signal 11 (SIGSEGV)\n\x7f";
  odd.attempt = 2;
  odd.kind = "replay";
  odd.start = 1e-7;
  odd.stop = 1e21;
  odd.resources = TestResources{std::nullopt, "", std::nullopt, 5, "", std::nullopt};
  tests.push_back(odd);

  RecordedTest extremes = passed;
  extremes.index = std::numeric_limits<std::size_t>::max();
  extremes.seq = std::numeric_limits<int>::min();
  extremes.start = std::nan("");
  extremes.stop = -0.0;
  extremes.resources = TestResources{};  // measured nothing: {}
  tests.push_back(extremes);

  RecordedTest backwards = passed;  // stop before start: duration 0
  backwards.stop = backwards.start - 1;
  backwards.resources.reset();
  tests.push_back(backwards);
  return tests;
}

TEST(ResultLine, IsWhatTheJsonTreeDumps) {
  for (const RecordedTest& test : samples()) {
    EXPECT_EQ(result_line(test), tree_line(test)) << test.nodeid;
  }
}

TEST(ResultLine, ReadsBackAsTheSameTest) {
  const RecordedTest test = samples()[0];
  const json back = json::parse(result_line(test));
  EXPECT_EQ(back.at("nodeid"), test.nodeid);
  EXPECT_EQ(back.at("start").get<double>(), test.start);
  EXPECT_EQ(back.at("resources").at("memory_peak_bytes").get<std::uint64_t>(), 7114752u);
  EXPECT_FALSE(back.contains("attempt"));
}

// Every field of a test read back.
std::string describe(const RecordedTest& test) {
  return result_line(test) + test.kind + " " + std::to_string(test.attempt);
}

std::string general(const std::string& line) {
  try {
    return describe(result_from_line(line, "line"));
  } catch (const RecordError&) {
    return "error";
  }
}

TEST(ResultLine, TheFastReaderTakesCommonLinesAndAgrees) {
  std::vector<std::string> lines;
  for (const RecordedTest& test : samples()) lines.push_back(result_line(test));
  lines.back().pop_back();                                // a last line without its newline
  ASSERT_TRUE(plain_result_line(lines[0]).has_value());   // a test that ran
  EXPECT_FALSE(plain_result_line(lines[1]).has_value());  // -1 positions: the general reader's
  EXPECT_FALSE(plain_result_line(R"({"index":1,"nodeid":"a","outcome":"passed","index":2})"));
  EXPECT_FALSE(plain_result_line(R"({"index":1,"nodeid":"a","outcome":"passed","x":{}})"));
  std::mt19937 random(14);
  std::size_t taken = 0;
  for (const std::string& seed : lines) {
    if (const auto plain = plain_result_line(seed)) {
      EXPECT_EQ(describe(*plain), general(seed));
    }
    for (int round = 0; round < 4000; ++round) {
      const std::string line = mutated_line(seed, random);
      if (const auto plain = plain_result_line(line)) {
        ++taken;
        EXPECT_EQ(describe(*plain), general(line)) << line;
      }
    }
  }
  EXPECT_GT(taken, 1000u);
}

}  // namespace
}  // namespace bulkhead::record

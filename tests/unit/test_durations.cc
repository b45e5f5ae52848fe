// Unit tests of durations: pytest-split's file read (both of its formats) and written byte for
// byte as Python's json.dump writes it, measured durations by its rules, and expectations with
// the median for unknown tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sandbox/error.h"
#include "src/shard/durations.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = fs::temp_directory_path() /
            ("bulkhead-durations-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::ofstream(path_) << text;
  }
  ~TempFile() {
    std::error_code ignored;
    fs::remove(path_, ignored);
    fs::remove(path_.string() + ".tmp", ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string read_all(const std::string& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

TEST(Durations, ReadsPytestSplitObjectAndLegacyList) {
  TempFile object(R"({"a.py::test_1": 0.5, "b.py::test_2[x]": 2})");
  auto read = read_test_durations(object.path());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, (DurationMap{{"a.py::test_1", 0.5}, {"b.py::test_2[x]", 2.0}}));
  TempFile list(R"([["a.py::test_1", 0.25], ["c.py::t", 1]])");
  EXPECT_EQ(*read_test_durations(list.path()),
            (DurationMap{{"a.py::test_1", 0.25}, {"c.py::t", 1}}));
  EXPECT_FALSE(read_test_durations("/nonexistent/.test_durations").has_value());
}

TEST(Durations, BadFilesNameThePathAndTheEntry) {
  auto error_of = [](const std::string& text) {
    TempFile file(text);
    try {
      read_test_durations(file.path());
    } catch (const UserError& error) {
      const std::string what = error.what();
      EXPECT_NE(what.find(file.path()), std::string::npos) << what;
      return what;
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"a.py::t": "slow"})").find("\"a.py::t\""), std::string::npos);
  EXPECT_NE(error_of(R"({"a.py::t": -1})").find(">= 0"), std::string::npos);
  EXPECT_NE(error_of("42").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"([["a", 1, 2]])").find("pairs"), std::string::npos);
}

TEST(Durations, RendersExactlyAsPythonJsonDump) {
  // json.dumps(d, sort_keys=True, indent=4) from Python 3.11, pasted.
  DurationMap durations{{"b.py::test_\xc3\xa9[x]", 1e-05},
                        {"a.py::test_1", 0.5},
                        {"c.py::t[\"q\"]", 123456789.125},
                        {"z::\xf0\x9f\x98\x80", 2.0},
                        {"d", 0.1 + 0.2},
                        {"e", 1e16},
                        {"f", 0.0}};
  EXPECT_EQ(render_test_durations(durations),
            "{\n"
            "    \"a.py::test_1\": 0.5,\n"
            "    \"b.py::test_\\u00e9[x]\": 1e-05,\n"
            "    \"c.py::t[\\\"q\\\"]\": 123456789.125,\n"
            "    \"d\": 0.30000000000000004,\n"
            "    \"e\": 1e+16,\n"
            "    \"f\": 0.0,\n"
            "    \"z::\\ud83d\\ude00\": 2.0\n"
            "}");
  EXPECT_EQ(render_test_durations({}), "{}");
}

TEST(Durations, StoreUpdatesWhatTheFileHeld) {
  TempFile file(R"({"old.py::kept": 3.0, "a.py::t": 9.0})");
  store_test_durations(file.path(), {{"a.py::t", 1.5}, {"new.py::t", 0.25}});
  EXPECT_EQ(*read_test_durations(file.path()),
            (DurationMap{{"a.py::t", 1.5}, {"new.py::t", 0.25}, {"old.py::kept", 3.0}}));
  EXPECT_EQ(read_all(file.path()), render_test_durations(*read_test_durations(file.path())));
}

PhaseReport phase(const char* when, double duration) {
  PhaseReport p;
  p.when = when;
  p.outcome = "passed";
  p.duration = duration;
  return p;
}

TEST(Durations, MeasuredAsPytestSplitCountsThem) {
  std::vector<TestRecord> records(4);
  records[0].index = 0;
  records[0].nodeid = "a.py::t";
  records[0].phases = {phase("setup", 0.1), phase("call", 1.0), phase("teardown", 0.2)};
  records[1].index = 1;
  records[1].nodeid = "b.py::t";  // setup over 600 s: a clock jump, left out
  records[1].phases = {phase("setup", 700), phase("call", 0.5), phase("teardown", -1)};
  records[2].index = 2;
  records[2].nodeid = "c.py::never_ran";
  records[3].index = 3;
  records[3].nodeid = "d.py::slow_call";
  records[3].phases = {phase("call", 900)};
  DurationMap measured = measured_durations(ResultStore::from(records));
  EXPECT_EQ(measured.size(), 3u);
  EXPECT_DOUBLE_EQ(measured["a.py::t"], 1.3);
  EXPECT_DOUBLE_EQ(measured["b.py::t"], 0.5);
  EXPECT_DOUBLE_EQ(measured["d.py::slow_call"], 900);
}

TEST(Durations, EstimatesGiveUnknownTestsTheMedian) {
  std::vector<ScheduledItem> items = {{"a", ""}, {"b", ""}, {"c", ""}, {"d", ""}, {"e", ""}};
  DurationSource source;
  source.tests.add("a", {1.0, 0.9});
  source.tests.add("b", {3.0, std::nullopt});
  source.tests.add("c", {2.0, std::nullopt});
  source.tests.add("gone", {50.0, std::nullopt});  // not collected: not in the median
  source.tests.sort();
  Estimates e = estimate(items, source);
  EXPECT_EQ(e.known, 3u);
  EXPECT_DOUBLE_EQ(e.median_s, 2.0);
  EXPECT_EQ(e.expected_s, (std::vector<double>{1.0, 3.0, 2.0, 2.0, 2.0}));
  EXPECT_EQ(e.order_s, (std::vector<double>{0.9, 3.0, 2.0, 2.0, 2.0}));
  EXPECT_DOUBLE_EQ(e.total_s, 10.0);
  EXPECT_TRUE(estimate(items, DurationSource{}).expected_s.empty());

  // No call times: order_s is left empty (the scheduler orders by expected_s).
  DurationSource totals;
  totals.tests.add("b", {3.0, std::nullopt});
  totals.tests.add("d", {1.0, std::nullopt});
  totals.tests.sort();
  e = estimate(items, totals);
  EXPECT_EQ(e.expected_s, (std::vector<double>{2.0, 3.0, 2.0, 1.0, 2.0}));
  EXPECT_TRUE(e.order_s.empty());
  // A call time after the first item: the ones before keep their totals.
  totals.tests.add("c", {2.5, 0.5});
  totals.tests.sort();
  e = estimate(items, totals);
  EXPECT_EQ(e.order_s, (std::vector<double>{2.5, 3.0, 0.5, 1.0, 2.5}));
}

}  // namespace
}  // namespace bulkhead

// Unit tests of run records as a durations source: the newest record wins, runs' own attempts
// only, tests that never ran or died with their worker left out, `.test_durations` first.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "src/record/record_writer.h"
#include "src/record/run_record.h"
#include "src/shard/record_durations.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

record::RecordedTest ran(const std::string& nodeid, double start, double stop,
                         std::string cause = "", int attempt = 0) {
  record::RecordedTest test;
  test.nodeid = nodeid;
  test.worker = "gw0";
  test.sandbox = 0;
  test.seq = 0;
  test.outcome = cause.empty() ? "passed" : "failed";
  test.cause = std::move(cause);
  test.start = start;
  test.stop = stop;
  test.attempt = attempt;
  test.kind = attempt == 0 ? "run" : "alone";
  return test;
}

class RunsDir {
 public:
  RunsDir() : path_(fs::temp_directory_path() / ("bulkhead-rd-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
  }
  ~RunsDir() { fs::remove_all(path_); }
  // A finished record started at `start` holding `tests`.
  void add(const std::string& id, double start, const std::vector<record::RecordedTest>& tests) {
    record::RunRecord run;
    run.run_id = id;
    run.start_time = start;
    record::RecordWriter writer(path_.string(), run);
    for (const auto& test : tests) writer.append(test);
    run.duration = 1;
    writer.update(run);
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

TEST(RecordDurations, NewestRecordWinsAndFaultsAreLeftOut) {
  RunsDir runs;
  runs.add("old", 1000, {ran("a", 1000, 1005), ran("b", 1000, 1002), ran("c", 1000, 1001)});
  runs.add("new", 2000,
           {ran("a", 2000, 2001), ran("b", 2000, 2009, "crash"), ran("c", 2000, 2030, "timeout"),
            ran("d", 2000, 2004, "", 1)});
  const DurationSource source = recorded_durations(runs.path());
  EXPECT_DOUBLE_EQ(source.tests.find("a")->total, 1.0);   // the newer record
  EXPECT_DOUBLE_EQ(source.tests.find("b")->total, 2.0);   // a crash's time says nothing: the older
  EXPECT_DOUBLE_EQ(source.tests.find("c")->total, 30.0);  // a timeout's: it is long
  EXPECT_FALSE(source.tests.find("d"));                   // a --retries attempt, not the run's
  EXPECT_NE(source.description.find("the last 2 runs"), std::string::npos) << source.description;
  EXPECT_TRUE(recorded_durations(runs.path(), 1).tests.find("a"));
  EXPECT_TRUE(recorded_durations(runs.path() + "/missing").tests.empty());
}

TEST(RecordDurations, TheFileComesFirst) {
  DurationSource file;
  file.description = ".test_durations";
  file.tests.add("a", {7.0, std::nullopt});
  file.tests.sort();
  DurationSource recorded;
  recorded.description = "run records (x, the last 1 run)";
  recorded.tests = DurationTable(DurationTable::Keys::kHashed);
  recorded.tests.add("a", {1.0, std::nullopt});
  recorded.tests.add("b", {2.0, std::nullopt});
  recorded.tests.sort();
  const DurationSource both = with_recorded_durations(file, recorded);
  EXPECT_DOUBLE_EQ(both.tests.find("a")->total, 7.0);
  EXPECT_DOUBLE_EQ(both.tests.find("b")->total, 2.0);
  EXPECT_EQ(both.description, ".test_durations and run records (x, the last 1 run)");
  EXPECT_EQ(with_recorded_durations(DurationSource{}, recorded).description, recorded.description);
  EXPECT_EQ(with_recorded_durations(file, DurationSource{}).description, ".test_durations");
  // Records that know nothing the file does not: the file alone, exact.
  DurationSource known{DurationTable(DurationTable::Keys::kHashed), "run records (y)"};
  known.tests.add("a", {1.0, std::nullopt});
  known.tests.sort();
  const DurationSource same = with_recorded_durations(file, known);
  EXPECT_EQ(same.description, ".test_durations");
  EXPECT_EQ(same.tests.keys(), DurationTable::Keys::kExact);
}

}  // namespace
}  // namespace bulkhead

// Unit tests of merging shard reports: one result in collection order, a missing shard's tests
// not run and named, duplicates and strays refused, shards of different splits refused, exit
// statuses as one run's.
#include <gtest/gtest.h>

#include "src/merge/merge.h"
#include "src/report/outcome.h"
#include "src/shard/partition.h"

namespace bulkhead {
namespace {

std::vector<std::string> collection_of(std::size_t n) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back("t.py::test_" + std::to_string(i));
  return ids;
}

PhaseReport phase(const char* when, const char* outcome, const char* category) {
  PhaseReport p;
  p.when = when;
  p.outcome = outcome;
  p.category = category;
  p.duration = 0.1;
  return p;
}

// The shards of one split of `n` tests into `total`, each reporting its tests as passed.
std::vector<ShardInput> shards(std::size_t n, int total) {
  std::vector<ScheduledItem> items;
  for (const std::string& id : collection_of(n)) items.push_back({id, ""});
  const ShardPartition split = partition_shards(DistMode::Load, items, {}, total);
  std::vector<ShardInput> out;
  for (int s = 0; s < total; ++s) {
    ShardInput input;
    input.path = "shard-" + std::to_string(s + 1) + ".json";
    input.collection = collection_of(n);
    input.run.run_id = "run" + std::to_string(s);
    input.run.workers = 2;
    input.run.start_time = 1000 + s;
    input.run.duration = 10 + s;
    ShardAssignment assignment;
    assignment.index = s;
    assignment.total = total;
    assignment.provider = "GitLab";
    assignment.found = "CI_NODE_INDEX=" + std::to_string(s + 1);
    assignment.digest = split.digest;
    assignment.shard_of = split.shard_of;
    assignment.durations = "none";
    input.run.shard = assignment;
    for (std::size_t i = 0; i < n; ++i) {
      if (split.shard_of[i] != s) continue;
      TestRecord test;
      test.index = i;
      test.nodeid = input.collection[i];
      test.worker = "gw0";
      test.phases = {phase("setup", "passed", ""), phase("call", "passed", "passed"),
                     phase("teardown", "passed", "")};
      test.finished = true;
      input.tests.push_back(test);
    }
    out.push_back(std::move(input));
  }
  return out;
}

TEST(Merge, AllShardsGiveTheWholeCollectionInOrder) {
  auto inputs = shards(10, 4);
  std::swap(inputs[0], inputs[3]);  // any order
  MergeResult merged = merge_shards(inputs);
  ASSERT_TRUE(merged.errors.empty()) << merged.errors[0];
  ASSERT_EQ(merged.tests.size(), 10u);
  const std::vector<int> shard_of = inputs[0].run.shard->shard_of;
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(merged.tests[i].index, i);
    // Each shard's gw0 is a worker of its own in the merged result.
    EXPECT_EQ(merged.tests[i].worker, std::to_string(shard_of[i] + 1) + "/gw0");
  }
  EXPECT_EQ(merged.exit_code, 0);
  EXPECT_EQ(count_outcomes(merged.tests).passed, 10u);
  ASSERT_EQ(merged.shards.size(), 4u);
  EXPECT_EQ(merged.shards[2].index, 3);
  EXPECT_EQ(merged.shards[2].file, "shard-3.json");
  EXPECT_EQ(merged.shards[2].source, "GitLab: CI_NODE_INDEX=3");
  EXPECT_EQ(merged.run.workers, 8);
  EXPECT_DOUBLE_EQ(merged.run.start_time, 1000);
  EXPECT_DOUBLE_EQ(merged.run.duration, 13) << "the slowest shard";
  EXPECT_FALSE(merged.run.shard.has_value());
}

TEST(Merge, AMissingShardsTestsAreNotRunNamingIt) {
  auto inputs = shards(10, 4);
  const std::vector<int> shard_of = inputs[0].run.shard->shard_of;
  inputs.erase(inputs.begin() + 2);  // shard 3/4 died
  MergeResult merged = merge_shards(inputs);
  ASSERT_TRUE(merged.errors.empty());
  EXPECT_EQ(merged.exit_code, 1);
  std::size_t missing = 0;
  for (const TestRecord& test : merged.tests) {
    if (shard_of[test.index] != 2) {
      EXPECT_EQ(overall_outcome(test), "passed");
      continue;
    }
    ++missing;
    EXPECT_EQ(test.cause, Cause::NotRun);
    EXPECT_EQ(test.cause_message, "not run: shard 3/4 reported nothing (its report is missing)");
  }
  EXPECT_GT(missing, 0u);
  EXPECT_EQ(merged.not_run, missing);
  EXPECT_EQ(merged.shards[2].exit_code, -1);
  EXPECT_EQ(merged.shards[2].problem, "reported nothing (its report is missing)");
}

TEST(Merge, ExitStatusIsOneRunsStatus) {
  auto failing = shards(8, 2);
  failing[1].tests[0].phases[1] = phase("call", "failed", "failed");
  EXPECT_EQ(merge_shards(failing).exit_code, 1);
  auto interrupted = shards(8, 2);
  interrupted[0].run.exit_code = 2;
  record_cause(interrupted[0].tests[1], Cause::NotRun, "not run: interrupted by SIGTERM");
  MergeResult merged = merge_shards(interrupted);
  EXPECT_EQ(merged.exit_code, 2);
  EXPECT_EQ(merged.run.exit_code, 2);
  EXPECT_EQ(merged.tests[interrupted[0].tests[1].index].cause_message,
            "not run: interrupted by SIGTERM (shard 1/2)");
  EXPECT_EQ(merge_shards(shards(0, 2)).exit_code, 5);
}

TEST(Merge, ReportsThatDoNotBelongTogetherAreRefused) {
  auto twice = shards(8, 2);
  twice.push_back(twice[1]);
  twice.back().path = "copy.json";
  MergeResult merged = merge_shards(twice);
  EXPECT_EQ(merged.exit_code, 3);
  ASSERT_FALSE(merged.errors.empty());
  EXPECT_NE(merged.errors[0].find("shard 2/2 given twice"), std::string::npos) << merged.errors[0];

  auto other_split = shards(8, 2);
  other_split[1].run.shard->digest = "0123456789abcdef";
  merged = merge_shards(other_split);
  ASSERT_EQ(merged.errors.size(), 1u);
  EXPECT_NE(merged.errors[0].find("split the same collection differently"), std::string::npos);

  auto other_collection = shards(8, 2);
  other_collection[1].collection[3] = "t.py::renamed";
  merged = merge_shards(other_collection);
  ASSERT_EQ(merged.errors.size(), 1u);
  EXPECT_NE(merged.errors[0].find("collected different tests"), std::string::npos);
  EXPECT_NE(merged.errors[0].find("+ t.py::renamed"), std::string::npos) << merged.errors[0];

  auto other_total = shards(8, 2);
  other_total[1].run.shard->total = 3;
  EXPECT_NE(merge_shards(other_total).errors[0].find("different numbers of shards"),
            std::string::npos);

  auto plain = shards(8, 2);
  plain[0].run.shard.reset();
  EXPECT_NE(merge_shards(plain).errors[0].find("not a shard's report"), std::string::npos);
  EXPECT_EQ(merge_shards({}).exit_code, 3);
}

TEST(Merge, ATestTwoShardsReportIsADuplicate) {
  auto inputs = shards(8, 2);
  TestRecord stolen = inputs[0].tests[0];
  inputs[1].tests.push_back(stolen);
  MergeResult merged = merge_shards(inputs);
  EXPECT_EQ(merged.exit_code, 3);
  ASSERT_FALSE(merged.errors.empty());
  EXPECT_NE(merged.errors[0].find("reported twice"), std::string::npos) << merged.errors[0];
  auto stray = shards(8, 2);
  stray[0].tests.push_back(stray[1].tests[0]);
  stray[1].tests.erase(stray[1].tests.begin());
  merged = merge_shards(stray);
  ASSERT_FALSE(merged.errors.empty());
  EXPECT_NE(merged.errors[0].find("which the split gave to shard 2/2"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead

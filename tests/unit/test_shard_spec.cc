// Unit tests of shard specs: --shard I/N, and --shard auto over each CI's variables, with the
// errors naming the variable at fault.
#include <gtest/gtest.h>

#include <map>

#include "sandbox/error.h"
#include "src/shard/shard_spec.h"

namespace bulkhead {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

std::string error_of(const std::string& text, std::map<std::string, std::string> vars) {
  try {
    parse_shard(text, env_of(std::move(vars)));
  } catch (const UserError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ShardSpec, ExplicitFractionIsOneBased) {
  ShardSpec spec = parse_shard("2/4", env_of({}));
  EXPECT_EQ(spec.index, 1);
  EXPECT_EQ(spec.total, 4);
  EXPECT_TRUE(spec.sharded());
  EXPECT_EQ(spec.label(), "2/4");
  EXPECT_EQ(spec.describe(), "shard 2/4 (--shard 2/4)");
  EXPECT_FALSE(parse_shard("1/1", env_of({})).sharded());
}

TEST(ShardSpec, ExplicitFractionErrors) {
  EXPECT_NE(error_of("0/4", {}).find("from 1 to 4"), std::string::npos) << error_of("0/4", {});
  EXPECT_NE(error_of("5/4", {}).find("from 1 to 4"), std::string::npos);
  EXPECT_NE(error_of("1/0", {}).find("1 or more"), std::string::npos);
  for (const char* bad : {"", "2", "2/", "/4", "a/4", "2/4x", "-1/4", "2 / 4", "1.5/4"}) {
    EXPECT_NE(error_of(bad, {}).find("expected I/N"), std::string::npos) << bad;
  }
}

TEST(ShardSpec, AutoReadsEachCi) {
  struct Case {
    std::map<std::string, std::string> vars;
    int index, total;
    const char* provider;
  };
  const Case cases[] = {
      {{{"CI_NODE_INDEX", "1"}, {"CI_NODE_TOTAL", "4"}}, 0, 4, "GitLab"},
      {{{"CI_NODE_INDEX", "4"}, {"CI_NODE_TOTAL", "4"}}, 3, 4, "GitLab"},
      {{{"CIRCLE_NODE_INDEX", "0"}, {"CIRCLE_NODE_TOTAL", "3"}}, 0, 3, "CircleCI"},
      {{{"CIRCLE_NODE_INDEX", "2"}, {"CIRCLE_NODE_TOTAL", "3"}}, 2, 3, "CircleCI"},
      {{{"BUILDKITE_PARALLEL_JOB", "1"}, {"BUILDKITE_PARALLEL_JOB_COUNT", "2"}}, 1, 2, "Buildkite"},
      {{{"JOB_COMPLETION_INDEX", "3"}, {"BULKHEAD_SHARD_TOTAL", "4"}}, 3, 4, "Kubernetes"},
      {{{"TEST_SHARD_INDEX", "0"}, {"TEST_TOTAL_SHARDS", "2"}}, 0, 2, "Bazel"},
  };
  for (const Case& c : cases) {
    ShardSpec spec = parse_shard("auto", env_of(c.vars));
    EXPECT_EQ(spec.index, c.index) << c.provider;
    EXPECT_EQ(spec.total, c.total) << c.provider;
    EXPECT_EQ(spec.provider, c.provider);
    for (const auto& [name, value] : c.vars) {
      EXPECT_NE(spec.found.find(name + "=" + value), std::string::npos) << spec.found;
    }
  }
}

TEST(ShardSpec, AutoPrefersTheMostSpecificCi) {
  // A Bazel test inside a GitLab parallel job: Bazel's own shard wins.
  ShardSpec spec = parse_shard("auto", env_of({{"CI_NODE_INDEX", "2"},
                                               {"CI_NODE_TOTAL", "3"},
                                               {"TEST_SHARD_INDEX", "1"},
                                               {"TEST_TOTAL_SHARDS", "2"}}));
  EXPECT_EQ(spec.provider, "Bazel");
  EXPECT_EQ(spec.label(), "2/2");
}

TEST(ShardSpec, AutoErrorsNameTheVariable) {
  std::string e = error_of("auto", {{"CI_NODE_INDEX", "0"}, {"CI_NODE_TOTAL", "4"}});
  EXPECT_NE(e.find("CI_NODE_INDEX=0"), std::string::npos) << e;
  EXPECT_NE(e.find("from 1 to 4"), std::string::npos) << e;
  e = error_of("auto", {{"CIRCLE_NODE_INDEX", "3"}, {"CIRCLE_NODE_TOTAL", "3"}});
  EXPECT_NE(e.find("CIRCLE_NODE_INDEX=3"), std::string::npos) << e;
  EXPECT_NE(e.find("from 0 to 2"), std::string::npos) << e;
  e = error_of("auto", {{"JOB_COMPLETION_INDEX", "1"}});
  EXPECT_NE(e.find("BULKHEAD_SHARD_TOTAL is not"), std::string::npos) << e;
  e = error_of("auto", {{"BULKHEAD_SHARD_TOTAL", "4"}});
  EXPECT_NE(e.find("JOB_COMPLETION_INDEX is not"), std::string::npos) << e;
  e = error_of("auto", {{"BUILDKITE_PARALLEL_JOB", "x"}, {"BUILDKITE_PARALLEL_JOB_COUNT", "2"}});
  EXPECT_NE(e.find("BUILDKITE_PARALLEL_JOB=x"), std::string::npos) << e;
  e = error_of("auto", {{"TEST_SHARD_INDEX", "0"}, {"TEST_TOTAL_SHARDS", "0"}});
  EXPECT_NE(e.find("TEST_TOTAL_SHARDS=0"), std::string::npos) << e;
  e = error_of("auto", {{"TEST_TOTAL_SHARDS", "2"}});
  EXPECT_NE(e.find("TEST_SHARD_INDEX is not"), std::string::npos) << e;
}

TEST(ShardSpec, AutoWithoutCiRunsEverythingAndSaysSo) {
  ShardSpec spec = parse_shard("auto", env_of({}));
  EXPECT_FALSE(spec.sharded());
  EXPECT_EQ(spec.provider, "");
  EXPECT_NE(spec.found.find("no CI shard variables"), std::string::npos);
  EXPECT_FALSE(spec.bazel.has_value());
}

TEST(ShardSpec, BazelContractIsRead) {
  ShardSpec spec = parse_shard("auto", env_of({{"TEST_SHARD_INDEX", "1"},
                                               {"TEST_TOTAL_SHARDS", "3"},
                                               {"TEST_SHARD_STATUS_FILE", "/t/status"},
                                               {"XML_OUTPUT_FILE", "/t/test.xml"},
                                               {"TEST_TMPDIR", "/t/tmp"},
                                               {"TEST_PREMATURE_EXIT_FILE", "/t/exit"}}));
  ASSERT_TRUE(spec.bazel.has_value());
  EXPECT_EQ(spec.bazel->shard_status_file, "/t/status");
  EXPECT_EQ(spec.bazel->xml_output_file, "/t/test.xml");
  EXPECT_EQ(spec.bazel->tmpdir, "/t/tmp");
  EXPECT_EQ(spec.bazel->premature_exit_file, "/t/exit");
  // Under `bazel test` without shard_count: the whole suite, the contract still honoured.
  ShardSpec single = parse_shard("auto", env_of({{"XML_OUTPUT_FILE", "/t/test.xml"}}));
  EXPECT_FALSE(single.sharded());
  EXPECT_EQ(single.provider, "Bazel");
  ASSERT_TRUE(single.bazel.has_value());
  EXPECT_EQ(single.bazel->xml_output_file, "/t/test.xml");
}

}  // namespace
}  // namespace bulkhead

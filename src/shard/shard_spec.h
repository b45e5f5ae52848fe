// Which shard this run is: `--shard I/N` (1-based, as Playwright and pytest-split spell it) or
// `--shard auto`, read from the CI's own variables (GitLab, CircleCI, Buildkite, Kubernetes
// Indexed Jobs, Bazel), with where it was found. A wrong or inconsistent spec is a UserError
// naming the variable. Pure: the environment comes in as a lookup function.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace bulkhead {

// Bazel's test contract (from the environment of `bazel test`), each "" when not set.
struct BazelContract {
  std::string shard_status_file;    // TEST_SHARD_STATUS_FILE: touched, "this test shards"
  std::string xml_output_file;      // XML_OUTPUT_FILE: the JUnit report goes here
  std::string tmpdir;               // TEST_TMPDIR: bulkhead's run directory goes under it
  std::string premature_exit_file;  // TEST_PREMATURE_EXIT_FILE: made at start, removed at the end
};

struct ShardSpec {
  int index = 0;  // 0-based
  int total = 1;
  std::string provider;  // "GitLab", "CircleCI", "Buildkite", "Kubernetes", "Bazel"; "" otherwise
  std::string found;     // where it came from: "CI_NODE_INDEX=2, CI_NODE_TOTAL=4", "--shard 2/4"
  std::optional<BazelContract> bazel;  // set when running under `bazel test`

  bool sharded() const { return total > 1; }
  std::string label() const;     // "2/4" (1-based)
  std::string describe() const;  // "shard 2/4 (GitLab: CI_NODE_INDEX=2, CI_NODE_TOTAL=4)"
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();  // getenv; empty values count as unset

// "I/N" or "auto". Throws UserError naming the option or variable and what was expected.
ShardSpec parse_shard(const std::string& text, const EnvLookup& env);

}  // namespace bulkhead

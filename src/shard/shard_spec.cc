// Shard specs from the command line and from each CI's variables (shard_spec.h).
#include "src/shard/shard_spec.h"

#include <cstdlib>
#include <vector>

#include "sandbox/error.h"

namespace bulkhead {

namespace {

// A CI's pair of variables; `first` is the number of its first job (0 or 1).
struct Provider {
  const char* name;
  const char* index_var;
  const char* total_var;
  int first;
  const char* hint;  // what sets the variables, for error messages
};

// Most specific first: a Bazel test may run inside a GitLab job, a Kubernetes pod in Buildkite.
constexpr Provider kProviders[] = {
    {"Bazel", "TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", 0, "bazel test with shard_count"},
    {"Kubernetes", "JOB_COMPLETION_INDEX", "BULKHEAD_SHARD_TOTAL", 0,
     "an Indexed Job (completionMode: Indexed) sets JOB_COMPLETION_INDEX; set "
     "BULKHEAD_SHARD_TOTAL to its completions"},
    {"Buildkite", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0,
     "a Buildkite step with parallelism"},
    {"CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0, "a CircleCI job with parallelism"},
    {"GitLab", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1, "a GitLab job with parallel: N"},
};

// A non-negative decimal that fits an int, or nullopt.
std::optional<int> parse_number(const std::string& text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::atoi(text.c_str());
}

std::string assignment(const char* name, const std::string& value) {
  return std::string(name) + "=" + value;
}

ShardSpec from_provider(const Provider& p, const EnvLookup& env) {
  const std::optional<std::string> index_text = env(p.index_var);
  const std::optional<std::string> total_text = env(p.total_var);
  if (!index_text) {
    throw UserError("--shard auto: " + assignment(p.total_var, *total_text) + " is set but " +
                    p.index_var + " is not (" + p.hint + ")");
  }
  if (!total_text) {
    throw UserError("--shard auto: " + assignment(p.index_var, *index_text) + " is set but " +
                    p.total_var + " is not (" + p.hint + ")");
  }
  const std::optional<int> total = parse_number(*total_text);
  if (!total || *total < 1) {
    throw UserError("--shard auto: " + assignment(p.total_var, *total_text) +
                    ": expected the number of shards, 1 or more");
  }
  const std::optional<int> index = parse_number(*index_text);
  const int last = *total - 1 + p.first;
  if (!index || *index < p.first || *index > last) {
    throw UserError("--shard auto: " + assignment(p.index_var, *index_text) + " is out of range: " +
                    p.name + " numbers its jobs from " + std::to_string(p.first) + " to " +
                    std::to_string(last) + " when " + assignment(p.total_var, *total_text));
  }
  ShardSpec spec;
  spec.index = *index - p.first;
  spec.total = *total;
  spec.provider = p.name;
  spec.found = assignment(p.index_var, *index_text) + ", " + assignment(p.total_var, *total_text);
  return spec;
}

std::optional<BazelContract> bazel_contract(const EnvLookup& env) {
  BazelContract contract;
  bool any = false;
  auto take = [&](const char* name, std::string& into) {
    if (auto value = env(name)) {
      into = *value;
      any = true;
    }
  };
  take("TEST_SHARD_STATUS_FILE", contract.shard_status_file);
  take("XML_OUTPUT_FILE", contract.xml_output_file);
  take("TEST_TMPDIR", contract.tmpdir);
  take("TEST_PREMATURE_EXIT_FILE", contract.premature_exit_file);
  if (!any) return std::nullopt;
  return contract;
}

ShardSpec parse_fraction(const std::string& text) {
  const std::size_t slash = text.find('/');
  const std::string expected =
      "--shard: expected I/N (1-based, e.g. 2/4) or auto, got '" + text + "'";
  if (slash == std::string::npos) throw UserError(expected);
  const std::optional<int> index = parse_number(text.substr(0, slash));
  const std::optional<int> total = parse_number(text.substr(slash + 1));
  if (!index || !total) throw UserError(expected);
  if (*total < 1) throw UserError("--shard " + text + ": the shard count must be 1 or more");
  if (*index < 1 || *index > *total) {
    throw UserError("--shard " + text + ": the shard must be from 1 to " + std::to_string(*total) +
                    " (shards are numbered from 1)");
  }
  ShardSpec spec;
  spec.index = *index - 1;
  spec.total = *total;
  spec.found = "--shard " + text;
  return spec;
}

}  // namespace

std::string ShardSpec::label() const {
  return std::to_string(index + 1) + "/" + std::to_string(total);
}

std::string ShardSpec::describe() const {
  if (provider.empty()) return "shard " + label() + " (" + found + ")";
  return "shard " + label() + " (" + provider + ": " + found + ")";
}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

ShardSpec parse_shard(const std::string& text, const EnvLookup& env) {
  if (text != "auto") return parse_fraction(text);
  for (const Provider& p : kProviders) {
    if (!env(p.index_var) && !env(p.total_var)) continue;
    ShardSpec spec = from_provider(p, env);
    if (std::string(p.name) == "Bazel") spec.bazel = bazel_contract(env);
    return spec;
  }
  ShardSpec spec;
  if (auto bazel = bazel_contract(env)) {  // `bazel test` without shard_count
    spec.provider = "Bazel";
    spec.found = "not sharded (no TEST_TOTAL_SHARDS)";
    spec.bazel = bazel;
    return spec;
  }
  std::string looked;
  for (const Provider& p : kProviders) {
    looked += std::string(looked.empty() ? "" : ", ") + p.index_var + "/" + p.total_var;
  }
  spec.found = "--shard auto: no CI shard variables set (" + looked + "), the whole suite";
  return spec;
}

}  // namespace bulkhead

// GitHub Actions output (with GITHUB_ACTIONS=true): `::error` workflow commands for failures,
// timeouts, crashes and OOM kills, and the Markdown for $GITHUB_STEP_SUMMARY, both made from the
// JSON report.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead {

// GitHub shows at most this many error annotations of one step.
constexpr std::size_t kGithubAnnotationLimit = 10;

// A workflow command's message: % CR LF as %25 %0D %0A.
std::string github_escape_data(std::string_view text);
// A property value (file=, title=): also : and , as %3A %2C.
std::string github_escape_property(std::string_view text);

// Where a failure points: a file relative to the repository and a 1-based line (0: none).
struct SourceLocation {
  std::string file;
  int line = 0;
};
// The location in `longrepr` to annotate: the last "path:line: " location in the test's own
// file (the nodeid's file), else the last one under the repository, else the test's file with
// no line. Paths are taken relative to `rootdir`, then made relative to `workspace` (the
// repository root); a path outside it stays as it is.
SourceLocation failure_location(std::string_view nodeid, std::string_view longrepr,
                                const std::string& rootdir, const std::string& workspace);

struct GithubOutput {
  std::vector<std::string> annotations;  // "::error file=...,line=...,title=...::message"
  std::size_t unannotated = 0;           // failures past kGithubAnnotationLimit
  std::string step_summary;              // Markdown
};
// `workspace` is GITHUB_WORKSPACE ("" : the report's rootdir).
GithubOutput render_github(const nlohmann::json& report, const std::string& workspace);

}  // namespace bulkhead

// GitHub Actions annotations and step summary (github.h).
#include "src/report/views/github.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <utility>

#include "src/report/resources_json.h"
#include "src/report/top_memory.h"
#include "src/report/views/report_reading.h"

namespace bulkhead {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_fault(const ReportTest& t) {
  return t.outcome == "failed" || t.outcome == "error" || t.cause == "timeout" ||
         t.cause == "crash" || t.cause == "oom";
}

// "tests/test_a.py:12: ..." (long and short tracebacks) or `File "tests/a.py", line 12` (native).
bool parse_location(std::string_view line, std::string& path, int& number) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  std::string_view rest;
  if (line.substr(0, 6) == "File \"") {
    std::size_t quote = line.find("\", line ", 6);
    if (quote == std::string_view::npos) return false;
    path = std::string(line.substr(6, quote - 6));
    rest = line.substr(quote + 8);
  } else {
    std::size_t colon = line.find(':');
    // Skip a Windows-style drive, never seen here, and reject "E   assert ..." lines.
    if (colon == std::string_view::npos || colon == 0 || line.find(' ') < colon) return false;
    path = std::string(line.substr(0, colon));
    rest = line.substr(colon + 1);
  }
  number = 0;
  std::size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9' && digits < 9) {
    number = number * 10 + (rest[digits] - '0');
    ++digits;
  }
  if (digits == 0 || number <= 0) return false;
  return digits == rest.size() || rest[digits] == ':' || rest[digits] == ',';
}

std::string relative_to(const fs::path& path, const std::string& base) {
  if (base.empty()) return path.generic_string();
  fs::path rel = path.lexically_relative(fs::path(base).lexically_normal());
  if (rel.empty() || *rel.begin() == "..") return path.generic_string();
  return rel.generic_string();
}

std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string code(std::string_view text) {
  std::string out = "`";
  for (char c : text) out += (c == '`' || c == '\n') ? '\'' : c;
  return out + "`";
}

std::string seconds(double s) {
  char buf[32];
  if (s < 10)
    std::snprintf(buf, sizeof buf, "%.2fs", s);
  else
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

std::string last_lines(const std::string& text, std::size_t count) {
  std::size_t at = text.size();
  while (at > 0 && (text[at - 1] == '\n' || text[at - 1] == ' ')) --at;
  const std::size_t end = at;
  for (std::size_t n = 0; at > 0 && n < count; ++n) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) {
      at = 0;
      break;
    }
  }
  return text.substr(at == 0 ? 0 : at + 1, end - (at == 0 ? 0 : at + 1));
}

const char* kind_of(const ReportTest& t) {
  if (t.cause == "timeout") return "timeout";
  if (t.cause == "crash") return "crash";
  if (t.cause == "oom") return "OOM kill";
  return t.outcome == "error" ? "error" : "failed";
}

// The "Most memory" table: the tests with the highest memory peaks, as --top-memory shows them;
// "" when no test has one (no memory cgroup). A report's resources that cannot be read count as
// not measured.
std::string most_memory(const std::vector<ReportTest>& tests) {
  std::vector<std::pair<TestResources, const ReportTest*>> measured;
  for (const ReportTest& t : tests) {
    if (!t.resources) continue;
    try {
      TestResources r = resources_from_json(
          *t.resources, [](const std::string& field, const std::string& expected) {
            throw std::invalid_argument(field + ": expected " + expected);
          });
      if (r.memory_peak_bytes) measured.emplace_back(std::move(r), &t);
    } catch (const std::invalid_argument&) {
    }
  }
  if (measured.empty()) return "";
  const std::size_t shown = std::min<std::size_t>(measured.size(), 5);
  std::partial_sort(measured.begin(), measured.begin() + static_cast<std::ptrdiff_t>(shown),
                    measured.end(), [](const auto& a, const auto& b) {
                      return *a.first.memory_peak_bytes > *b.first.memory_peak_bytes;
                    });
  std::string md =
      "#### Most memory\n\n| peak | growth | CPU | pids | test |\n|---:|---:|---:|---:|---|\n";
  bool sandbox_scope = false;
  for (std::size_t i = 0; i < shown; ++i) {
    const ResourceFigures figures = resource_figures(measured[i].first);
    sandbox_scope |= measured[i].first.memory_peak_scope == "sandbox";
    md += "| " + figures.peak + " | " + figures.growth + " | " + figures.cpu + " | " +
          figures.pids + " | " + markdown_cell(code(measured[i].second->nodeid)) + " |\n";
  }
  if (sandbox_scope) {
    md +=
        "\nPeaks include the worker's interpreter; some are their sandbox's so far (this "
        "kernel cannot reset the peak per test).\n";
  } else {
    md += "\nPeaks include the worker's interpreter; growth is the test's own.\n";
  }
  return md + "\n";
}

}  // namespace

std::string github_escape_data(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '%')
      out += "%25";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else
      out += c;
  }
  return out;
}

std::string github_escape_property(std::string_view text) {
  std::string out;
  for (char c : github_escape_data(text)) {
    if (c == ':')
      out += "%3A";
    else if (c == ',')
      out += "%2C";
    else
      out += c;
  }
  return out;
}

SourceLocation failure_location(std::string_view nodeid, std::string_view longrepr,
                                const std::string& rootdir, const std::string& workspace) {
  const fs::path root = fs::path(rootdir).lexically_normal();
  auto absolute = [&root](const std::string& path) {
    fs::path p(path);
    return (p.is_absolute() ? p : root / p).lexically_normal();
  };
  const fs::path test_file = absolute(std::string(nodeid.substr(0, nodeid.find("::"))));
  const std::string& base = workspace.empty() ? rootdir : workspace;
  SourceLocation own, inside;
  std::size_t begin = 0;
  while (begin < longrepr.size()) {
    std::size_t end = std::min(longrepr.find('\n', begin), longrepr.size());
    std::string path;
    int number = 0;
    if (parse_location(longrepr.substr(begin, end - begin), path, number)) {
      const fs::path file = absolute(path);
      const std::string rel = relative_to(file, base);
      if (file == test_file)
        own = {rel, number};
      else if (!fs::path(rel).is_absolute())
        inside = {rel, number};
    }
    begin = end + 1;
  }
  if (!own.file.empty()) return own;
  if (!inside.file.empty()) return inside;
  return {relative_to(test_file, base), 0};
}

GithubOutput render_github(const json& report, const std::string& workspace) {
  GithubOutput out;
  const json run = report.value("run", json::object());
  const json summary = report.value("summary", json::object());
  const std::string rootdir = run.value("rootdir", std::string());
  const std::vector<ReportTest> tests = report_tests(report);

  std::vector<const ReportTest*> faults;
  for (const ReportTest& t : tests) {
    if (is_fault(t)) faults.push_back(&t);
  }
  for (const ReportTest* t : faults) {
    if (out.annotations.size() == kGithubAnnotationLimit) {
      out.unannotated = faults.size() - kGithubAnnotationLimit;
      break;
    }
    const SourceLocation where = failure_location(t->nodeid, t->longrepr, rootdir, workspace);
    std::string command = "::error file=" + github_escape_property(where.file);
    if (where.line > 0) command += ",line=" + std::to_string(where.line);
    command += ",title=" + github_escape_property(std::string(kind_of(*t)) + ": " + t->nodeid);
    std::string message = one_line_reason(*t);
    if (!t->longrepr.empty()) message += "\n\n" + last_lines(t->longrepr, 30);
    out.annotations.push_back(command + "::" + github_escape_data(message));
  }

  // The step summary.
  std::string& md = out.step_summary;
  const int exit_code = run.value("exit_code", 0);
  const long long total = summary.value("tests", static_cast<long long>(tests.size()));
  md += "### bulkhead: " + std::string(exit_code == 0 ? "passed" : "failed") + ", " +
        std::to_string(total) + " tests in " + seconds(run.value("duration", 0.0)) + " on " +
        std::to_string(run.value("workers", 0)) + " workers\n\n";
  const char* keys[] = {"passed",  "failed", "error",   "skipped", "xfailed",
                        "xpassed", "notrun", "timeout", "crash",   "oom"};
  const char* heads[] = {"passed",  "failed",  "error",   "skipped", "xfailed",
                         "xpassed", "not run", "timeout", "crash",   "OOM kill"};
  std::string head = "|", rule = "|", row = "|";
  for (std::size_t i = 0; i < std::size(keys); ++i) {
    head += " " + std::string(heads[i]) + " |";
    rule += "---:|";
    row += " " + std::to_string(summary.value(keys[i], 0LL)) + " |";
  }
  md += head + "\n" + rule + "\n" + row + "\n\n";

  if (!faults.empty()) {
    md += "#### Failures (" + std::to_string(faults.size()) + ")\n\n";
    constexpr std::size_t kListed = 50;
    for (std::size_t i = 0; i < faults.size() && i < kListed; ++i) {
      md += "- " + code(faults[i]->nodeid) + " **" + kind_of(*faults[i]) +
            "**: " + markdown_cell(one_line_reason(*faults[i])) + "\n";
    }
    if (faults.size() > kListed)
      md += "- ... and " + std::to_string(faults.size() - kListed) + " more\n";
    if (out.unannotated > 0) {
      md += "\n" + std::to_string(out.unannotated) +
            " of these are not annotated in the code: GitHub shows " +
            std::to_string(kGithubAnnotationLimit) + " error annotations per step.\n";
    }
    md += "\n";
  }

  std::vector<const ReportTest*> ran;
  for (const ReportTest& t : tests) {
    if (t.stop > 0) ran.push_back(&t);
  }
  const std::size_t slow = std::min<std::size_t>(ran.size(), 10);
  std::partial_sort(
      ran.begin(), ran.begin() + static_cast<std::ptrdiff_t>(slow), ran.end(),
      [](const ReportTest* a, const ReportTest* b) { return a->duration > b->duration; });
  if (slow > 0) {
    md += "#### Slowest tests\n\n| duration | test | worker |\n|---:|---|---|\n";
    for (std::size_t i = 0; i < slow; ++i) {
      md += "| " + seconds(ran[i]->duration) + " | " + markdown_cell(code(ran[i]->nodeid)) + " | " +
            ran[i]->worker + " |\n";
    }
    md += "\n";
  }

  md += most_memory(tests);

  const std::vector<ReportSandbox> sandboxes = report_sandboxes(report, tests);
  if (!sandboxes.empty()) {
    double t0 = std::numeric_limits<double>::infinity();
    for (const ReportSandbox& s : sandboxes) {
      if (s.start > 0) t0 = std::min(t0, s.start);
    }
    md +=
        "#### Workers\n\n| worker | sandbox | tests | from | for | ended |\n"
        "|---|---:|---:|---:|---:|---|\n";
    constexpr std::size_t kRows = 60;  // a suite that crashes in every test has as many
    for (std::size_t i = 0; i < sandboxes.size() && i < kRows; ++i) {
      const ReportSandbox& s = sandboxes[i];
      std::string ended = s.message.empty() ? s.ended : s.ended + ": " + s.message;
      md += "| " + s.worker + " | #" + std::to_string(s.incarnation) + " | " +
            std::to_string(s.tests) + " | +" + seconds(s.start - t0) + " | " +
            seconds(s.end - s.start) + " | " + markdown_cell(ended) + " |\n";
    }
    if (sandboxes.size() > kRows)
      md += "\n... and " + std::to_string(sandboxes.size() - kRows) + " more sandboxes\n";
    md += "\n";
  }
  return out;
}

}  // namespace bulkhead

// The views made from the JSON report (views.h).
#include "src/report/views/views.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>

#include "sandbox/error.h"
#include "src/report/html/html_report.h"
#include "src/report/outcome.h"
#include "src/report/views/github.h"
#include "src/report/views/trace.h"

namespace bulkhead {

namespace {

bool env_is_true(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::string_view(value) == "true";
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

void append_file(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) throw SysError("open " + path + " (GITHUB_STEP_SUMMARY)", errno);
  const bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int err = errno;
  if (std::fclose(file) != 0 || !ok)
    throw SysError("write " + path + " (GITHUB_STEP_SUMMARY)", ok ? errno : err);
}

}  // namespace

void write_report_views(const ReportViewPaths& paths, const TextSource& json_report,
                        Terminal& terminal) {
  const bool github = env_is_true("GITHUB_ACTIONS");
  if (paths.html.empty() && paths.trace.empty() && !github) return;
  if (paths.trace.empty() && !github) {
    write_html_report(paths.html, json_report);
    return;
  }
  std::string text;
  json_report([&text](std::string_view piece) { text += piece; });
  if (!paths.html.empty()) {
    write_html_report(paths.html, [&text](const TextOut& out) { out(text); });
  }
  // The trace and GitHub's output never show captured output: it is left out of the document.
  const nlohmann::json report = nlohmann::json::parse(
      text, [](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        return !(event == nlohmann::json::parse_event_t::key && parsed == "sections");
      });
  if (!paths.trace.empty()) write_file_atomically(paths.trace, render_trace(report).dump() + "\n");
  if (github) {
    const GithubOutput out = render_github(report, env_or_empty("GITHUB_WORKSPACE"));
    for (const std::string& line : out.annotations) terminal.line(line);
    const std::string summary_path = env_or_empty("GITHUB_STEP_SUMMARY");
    if (!summary_path.empty()) append_file(summary_path, out.step_summary);
  }
}

std::string gitlab_section_start(const std::string& name, const std::string& header, bool collapsed,
                                 long long unix_time) {
  return "\x1b[0Ksection_start:" + std::to_string(unix_time) + ":" + name +
         (collapsed ? "[collapsed=true]" : "") + "\r\x1b[0K" + header + "\n";
}

std::string gitlab_section_end(const std::string& name, long long unix_time) {
  return "\x1b[0Ksection_end:" + std::to_string(unix_time) + ":" + name + "\r\x1b[0K\n";
}

CiSection::CiSection(std::FILE* out, const std::string& name, const std::string& header,
                     bool collapsed)
    : name_(name) {
  if (!env_is_true("GITLAB_CI")) return;
  out_ = out;
  std::fputs(gitlab_section_start(name, header, collapsed, std::time(nullptr)).c_str(), out_);
  std::fflush(out_);
}

CiSection::~CiSection() {
  if (out_ == nullptr) return;
  std::fflush(out_);
  std::fputs(gitlab_section_end(name_, std::time(nullptr)).c_str(), out_);
  std::fflush(out_);
}

}  // namespace bulkhead

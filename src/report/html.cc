// The self-contained HTML report (html.h).
#include "src/report/html.h"

#include <cstdio>

#include "src/report/outcome.h"

namespace bulkhead {

namespace {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", s);
  return text;
}

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse} td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.passed{color:#1a7f37} .failed,.error{color:#cf222e} .skipped,.xfailed,.xpassed{color:#9a6700}
.notrun{color:#6e7781} pre{background:#f6f8fa;padding:.6em;overflow:auto;font-size:.85em}
.counts span{margin-right:1em;font-weight:600} details{margin:.3em 0}
</style>)";

constexpr const char* kFilter = R"(<script>
function filterTests(){var q=document.getElementById('q').value.toLowerCase();
var o=document.getElementById('o').value;
document.querySelectorAll('#tests tbody tr').forEach(function(r){
var ok=r.dataset.id.toLowerCase().indexOf(q)>=0&&(!o||r.dataset.outcome===o);
r.style.display=ok?'':'none';});}
</script>)";

}  // namespace

std::string render_html_report(const std::vector<TestRecord>& tests, const RunInfo& run) {
  const OutcomeCounts c = count_outcomes(tests);
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += "<title>bulkhead: " + std::to_string(c.tests) + " tests</title>";
  h += kStyle;
  h += kFilter;
  h += "</head><body>\n<h1>bulkhead test report</h1>\n<p class=\"counts\">";
  const std::pair<const char*, std::size_t> counts[] = {
      {"passed", c.passed},   {"failed", c.failed},   {"error", c.error},  {"skipped", c.skipped},
      {"xfailed", c.xfailed}, {"xpassed", c.xpassed}, {"notrun", c.notrun}};
  for (const auto& [name, n] : counts) {
    if (n > 0)
      h +=
          "<span class=\"" + std::string(name) + "\">" + std::to_string(n) + " " + name + "</span>";
  }
  h += "</p>\n<p>" + std::to_string(c.tests) + " tests, exit status " +
       std::to_string(run.exit_code) + ", " + seconds(run.duration) + " s wall, pytest " +
       escape(run.pytest_version) + ", Python " + escape(run.python_version) + "</p>\n";

  if (!run.shards.empty()) {
    h += "<h2>Shards</h2>\n<table><thead><tr><th>shard</th><th>from</th><th>tests</th>"
         "<th>exit</th><th>wall s</th><th>report</th></tr></thead><tbody>\n";
    for (const ShardSummary& s : run.shards) {
      h += "<tr><td>" + std::to_string(s.index) + "/" + std::to_string(s.total) + "</td><td>" +
           escape(s.source) + "</td><td>" + std::to_string(s.tests) + "</td><td>" +
           (s.exit_code < 0 ? std::string("<span class=\"notrun\">") + escape(s.problem) + "</span>"
                            : std::to_string(s.exit_code)) +
           "</td><td>" + (s.exit_code < 0 ? "" : seconds(s.duration)) + "</td><td>" +
           escape(s.file) + "</td></tr>\n";
    }
    h += "</tbody></table>\n";
  }

  std::string failures;
  std::string not_run;
  for (const TestRecord* t : unique_records(tests)) {
    const std::string outcome = overall_outcome(*t);
    if (outcome == "notrun") {
      not_run += "<li>" + escape(t->nodeid) + ": " + escape(t->cause_message) + "</li>\n";
      continue;
    }
    if (outcome != "failed" && outcome != "error") continue;
    failures += "<details open><summary class=\"" + outcome + "\">" + escape(outcome) + " " +
                escape(t->nodeid) + (t->worker.empty() ? "" : " [" + escape(t->worker) + "]") +
                "</summary>\n";
    for (const PhaseReport& p : t->phases) {
      if (p.outcome != "failed") continue;
      failures += "<p>" + escape(p.when) + ": " + escape(p.message) + "</p><pre>" +
                  escape(p.longrepr) + "</pre>\n";
    }
    for (const auto& [name, content] : merged_sections(*t)) {
      failures += "<details><summary>" + escape(name) + "</summary><pre>" + escape(content) +
                  "</pre></details>\n";
    }
    failures += "</details>\n";
  }
  if (!failures.empty()) h += "<h2>Failures</h2>\n" + failures;
  if (!not_run.empty()) h += "<h2>Not run</h2>\n<ul>\n" + not_run + "</ul>\n";

  h += "<h2>Tests</h2>\n<p><input id=\"q\" placeholder=\"name\" oninput=\"filterTests()\"> "
       "<select id=\"o\" onchange=\"filterTests()\"><option value=\"\">every outcome</option>";
  for (const auto& [name, n] : counts) {
    if (n > 0) h += "<option>" + std::string(name) + "</option>";
  }
  h += "</select></p>\n<table id=\"tests\"><thead><tr><th>test</th><th>outcome</th>"
       "<th>worker</th><th>s</th></tr></thead><tbody>\n";
  for (const TestRecord* t : unique_records(tests)) {
    const std::string outcome = overall_outcome(*t);
    double duration = 0;
    for (const PhaseReport& p : t->phases) duration += p.duration;
    h += "<tr data-id=\"" + escape(t->nodeid) + "\" data-outcome=\"" + outcome + "\"><td>" +
         escape(t->nodeid) + "</td><td class=\"" + outcome + "\">" + outcome + "</td><td>" +
         escape(t->worker) + "</td><td>" + seconds(duration) + "</td></tr>\n";
  }
  h += "</tbody></table>\n</body></html>\n";
  return h;
}

void write_html_report(const std::string& path, const std::vector<TestRecord>& tests,
                       const RunInfo& run) {
  write_file_atomically(path, render_html_report(tests, run));
}

}  // namespace bulkhead

// Unit tests of the views made from the JSON report: the Chrome trace, GitHub's escaping,
// annotation locations, annotations and step summary, GitLab's section markers, and the HTML
// page's embedding of the report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "src/report/html/html_report.h"
#include "src/report/views/github.h"
#include "src/report/views/trace.h"
#include "src/report/views/views.h"

namespace bulkhead {
namespace {

using nlohmann::json;

json test_entry(const std::string& nodeid, const std::string& outcome, const std::string& worker,
                int incarnation, double start, double stop, const std::string& cause = "",
                const std::string& longrepr = "") {
  json phases = json::array();
  phases.push_back({{"when", "call"},
                    {"outcome", outcome == "passed" ? "passed" : "failed"},
                    {"longrepr", longrepr},
                    {"message", longrepr.empty() ? "" : "AssertionError: assert 1 == 2"}});
  return {{"nodeid", nodeid},
          {"worker", worker},
          {"incarnation", incarnation},
          {"outcome", outcome},
          {"cause", cause},
          {"cause_message", cause.empty() ? "" : "Crash: worker gw1 killed by SIGSEGV"},
          {"phases", phases},
          {"duration", stop - start},
          {"start", start},
          {"stop", stop},
          {"resources", json::object()}};
}

// Two workers; gw1's first sandbox crashed in its second test and was replaced.
json sample_report() {
  json tests = json::array();
  tests.push_back(test_entry("tests/test_a.py::test_ok", "passed", "gw0", 0, 100.0, 100.5));
  tests.push_back(test_entry("tests/test_a.py::test_fails", "failed", "gw0", 0, 100.5, 101.0, "",
                             "    def test_fails():\n>       assert 1 == 2\nE       assert 1 == "
                             "2\n\ntests/helper.py:7: in check\n    x()\ntests/test_a.py:12: "
                             "AssertionError\n"));
  tests.push_back(test_entry("tests/test_b.py::test_ok", "passed", "gw1", 0, 100.1, 100.2));
  tests.push_back(
      test_entry("tests/test_b.py::test_segv", "failed", "gw1", 0, 100.2, 100.4, "crash"));
  tests.push_back(test_entry("tests/test_b.py::test_after", "passed", "gw1", 1, 100.6, 100.9));
  json notrun = test_entry("tests/test_c.py::test_never", "notrun", "", -1, 0, 0, "notrun");
  tests.push_back(notrun);
  json sandboxes = json::array();
  sandboxes.push_back({{"worker", "gw0"},
                       {"incarnation", 0},
                       {"pid", 11},
                       {"start", 99.9},
                       {"end", 101.1},
                       {"ended", "exited"},
                       {"message", ""},
                       {"tests", 2}});
  sandboxes.push_back({{"worker", "gw1"},
                       {"incarnation", 0},
                       {"pid", 12},
                       {"start", 100.0},
                       {"end", 100.4},
                       {"ended", "crashed"},
                       {"message", "killed by SIGSEGV"},
                       {"tests", 2}});
  sandboxes.push_back({{"worker", "gw1"},
                       {"incarnation", 1},
                       {"pid", 13},
                       {"start", 100.5},
                       {"end", 0},
                       {"ended", "killed"},
                       {"message", ""},
                       {"tests", 1}});
  return {{"format_version", 2},
          {"run",
           {{"run_id", "r1"},
            {"workers", 2},
            {"rootdir", "/repo/app"},
            {"exit_code", 1},
            {"duration", 1.25}}},
          {"summary", {{"tests", 6}, {"passed", 3}, {"failed", 2}, {"notrun", 1}, {"crash", 1}}},
          {"sandboxes", sandboxes},
          {"tests", tests}};
}

TEST(Trace, OneTrackPerWorkerSlicesNestedInSandboxesAndFaultsMarked) {
  const json trace = render_trace(sample_report());
  int threads = 0, test_slices = 0, sandbox_slices = 0, crash_marks = 0, replacements = 0;
  for (const json& e : trace["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "M" && e["name"] == "thread_name") ++threads;
    if (ph == "X" && e["cat"] == "sandbox") ++sandbox_slices;
    if (ph == "X" && e["cat"] != "sandbox") ++test_slices;
    if (ph == "i" && e["cat"] == "crash") {
      ++crash_marks;
      EXPECT_EQ(e["tid"], 2);      // gw1
      EXPECT_EQ(e["ts"], 500000);  // the crashed test's stop, from the first start (99.9)
      EXPECT_EQ(e["s"], "t");
    }
    if (ph == "i" && e["cat"] == "replacement") ++replacements;
  }
  EXPECT_EQ(threads, 2);
  EXPECT_EQ(sandbox_slices, 3);
  EXPECT_EQ(test_slices, 5);  // the test that never ran has no slice
  EXPECT_EQ(crash_marks, 1);
  EXPECT_EQ(replacements, 1);
  // Each test slice lies inside its sandbox's slice on the same track (Perfetto nests them).
  for (const json& t : trace["traceEvents"]) {
    if (t["ph"] != "X" || t["cat"] == "sandbox") continue;
    bool inside = false;
    for (const json& s : trace["traceEvents"]) {
      if (s["ph"] == "X" && s["cat"] == "sandbox" && s["tid"] == t["tid"] &&
          s["args"]["incarnation"] == t["args"]["incarnation"]) {
        inside = s["ts"] <= t["ts"] && s["ts"].get<long long>() + s["dur"].get<long long>() >=
                                           t["ts"].get<long long>() + t["dur"].get<long long>();
      }
    }
    EXPECT_TRUE(inside) << t["name"];
  }
}

TEST(Trace, ReportWithoutSandboxesGetsOnePerWorker) {
  json report = sample_report();
  report.erase("sandboxes");
  int sandbox_slices = 0;
  const json trace = render_trace(report);
  for (const json& e : trace["traceEvents"])
    sandbox_slices += e["ph"] == "X" && e.value("cat", "") == "sandbox";
  EXPECT_EQ(sandbox_slices, 2);
}

TEST(GithubEscape, DataAndProperties) {
  EXPECT_EQ(github_escape_data("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext: a,b");
  EXPECT_EQ(github_escape_property("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext%3A a%2Cb");
  // The % of an escape is not escaped twice.
  EXPECT_EQ(github_escape_property(":"), "%3A");
  EXPECT_EQ(github_escape_data("%0A"), "%250A");
}

TEST(GithubLocation, PrefersTheTestsOwnFileRelativeToTheWorkspace) {
  const std::string longrepr =
      "tests/helper.py:7: in check\n    x()\ntests/test_a.py:12: AssertionError\n";
  SourceLocation at =
      failure_location("tests/test_a.py::test_fails", longrepr, "/repo/app", "/repo");
  EXPECT_EQ(at.file, "app/tests/test_a.py");
  EXPECT_EQ(at.line, 12);
  // Not in the test's file: the last location inside the repository.
  at = failure_location("tests/test_z.py::t", longrepr, "/repo/app", "/repo");
  EXPECT_EQ(at.file, "app/tests/test_a.py");
  // Outside the repository only: the test's file, no line.
  at = failure_location("tests/test_z.py::t", "/usr/lib/python3/x.py:3: ValueError\n", "/repo/app",
                        "/repo");
  EXPECT_EQ(at.file, "app/tests/test_z.py");
  EXPECT_EQ(at.line, 0);
  // --tb=native and a parametrized id with "::" and ":" in it.
  at = failure_location("tests/test_a.py::test_p[a:1]",
                        "Traceback:\n  File \"/repo/app/tests/test_a.py\", line 40, in t\n",
                        "/repo/app", "");
  EXPECT_EQ(at.file, "tests/test_a.py");
  EXPECT_EQ(at.line, 40);
  // "E   assert x: y" lines are not locations.
  at = failure_location("t.py::t", "E   assert a:1\n", "/repo", "/repo");
  EXPECT_EQ(at.line, 0);
}

TEST(Github, AnnotationsForFailuresAndCrashes) {
  const GithubOutput out = render_github(sample_report(), "/repo");
  ASSERT_EQ(out.annotations.size(), 2u);
  EXPECT_EQ(out.annotations[0].rfind(
                "::error file=app/tests/test_a.py,line=12,title=failed%3A "
                "tests/test_a.py%3A%3Atest_fails::AssertionError: assert 1 == 2%0A%0A",
                0),
            0u)
      << out.annotations[0];
  EXPECT_EQ(out.annotations[1].rfind("::error file=app/tests/test_b.py,title=crash%3A ", 0), 0u)
      << out.annotations[1];
  EXPECT_NE(out.annotations[1].find("::Crash: worker gw1 killed by SIGSEGV"), std::string::npos);
  EXPECT_EQ(out.unannotated, 0u);
  for (const std::string& a : out.annotations) EXPECT_EQ(a.find('\n'), std::string::npos);
}

TEST(Github, AtMostTenAnnotationsAndTheRestSaidInTheSummary) {
  json report = sample_report();
  for (int i = 0; i < 12; ++i)
    report["tests"].push_back(test_entry("tests/test_m.py::t" + std::to_string(i), "failed", "gw0",
                                         0, 101.0 + i, 101.5 + i, "",
                                         "tests/test_m.py:3: AssertionError"));
  const GithubOutput out = render_github(report, "");
  EXPECT_EQ(out.annotations.size(), kGithubAnnotationLimit);
  EXPECT_EQ(out.unannotated, 4u);  // 14 failures
  EXPECT_NE(out.step_summary.find("#### Failures (14)"), std::string::npos);
  EXPECT_NE(out.step_summary.find("4 of these are not annotated"), std::string::npos);
}

TEST(Github, StepSummaryHasCountsFailuresSlowestAndWorkers) {
  const std::string md = render_github(sample_report(), "/repo").step_summary;
  EXPECT_NE(md.find("### bulkhead: failed, 6 tests in 1.25s on 2 workers"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| 3 | 2 | 0 | 0 | 0 | 0 | 1 | 0 | 1 | 0 |"), std::string::npos) << md;
  EXPECT_NE(
      md.find("- `tests/test_b.py::test_segv` **crash**: Crash: worker gw1 killed by SIGSEGV"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("- `tests/test_a.py::test_fails` **failed**: AssertionError: assert 1 == 2"),
            std::string::npos);
  EXPECT_NE(md.find("#### Slowest tests"), std::string::npos);
  // The slowest first.
  EXPECT_LT(md.find("tests/test_a.py::test_fails` | gw0"), md.find("tests/test_b.py::test_ok`"));
  EXPECT_NE(md.find("| gw1 | #0 | 2 | +0.10s | 0.40s | crashed: killed by SIGSEGV |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| gw1 | #1 | 1 |"), std::string::npos);
}

TEST(Github, StepSummaryListsTheHighestMemoryPeaksOnlyWhenMeasured) {
  json report = sample_report();
  EXPECT_EQ(render_github(report, "").step_summary.find("Most memory"), std::string::npos);
  const std::uint64_t mib = 1 << 20;
  // Seven measured tests (peaks 10..70 MiB, test_m3 highest), one unreadable, one CPU only.
  for (int i = 0; i < 7; ++i) {
    json entry = test_entry("tests/test_m.py::t" + std::to_string(i), "passed", "gw0", 0, 102, 103);
    entry["resources"] = {{"memory_peak_bytes", (i == 3 ? 70 : 10 + i) * mib},
                          {"memory_start_bytes", 8 * mib},
                          {"memory_peak_scope", "test"},
                          {"cpu_s", 0.5},
                          {"pids_started", i}};
    report["tests"].push_back(entry);
  }
  report["tests"][0]["resources"] = {{"memory_peak_bytes", "lots"}};
  report["tests"][1]["resources"] = {{"cpu_s", 9.0}};
  const std::string md = render_github(report, "").step_summary;
  const std::size_t table = md.find("#### Most memory\n\n| peak | growth | CPU | pids | test |\n");
  ASSERT_NE(table, std::string::npos) << md;
  EXPECT_NE(md.find("| 70.0 MiB | +62.0 MiB | 0.50s | 3 | `tests/test_m.py::t3` |"), table) << md;
  EXPECT_LT(md.find("`tests/test_m.py::t3`", table), md.find("`tests/test_m.py::t6`", table));
  EXPECT_LT(md.find("`tests/test_m.py::t6`", table), md.find("`tests/test_m.py::t5`", table));
  EXPECT_NE(md.find("| 12.0 MiB | +4.0 MiB | 0.50s | 2 | `tests/test_m.py::t2` |"),
            std::string::npos);
  // Five rows: the two lowest peaks (t0, t1) are left out, as are the tests without a peak.
  EXPECT_EQ(md.find("`tests/test_m.py::t1` |", table), std::string::npos) << md;
  EXPECT_EQ(md.find("`tests/test_m.py::t0` |", table), std::string::npos) << md;
  EXPECT_EQ(md.find("test_a.py::test_ok` |", table), std::string::npos) << md;
  EXPECT_LT(table, md.find("#### Workers"));
}

TEST(Github, WorkerTableIsCapped) {
  json report = sample_report();
  for (int i = 2; i < 72; ++i)
    report["sandboxes"].push_back({{"worker", "gw1"},
                                   {"incarnation", i},
                                   {"start", 101.0 + i},
                                   {"end", 101.5 + i},
                                   {"ended", "crashed"},
                                   {"tests", 1}});
  const std::string md = render_github(report, "").step_summary;
  EXPECT_NE(md.find("| gw1 | #58 |"), std::string::npos);  // the 60th row
  EXPECT_EQ(md.find("| gw1 | #59 |"), std::string::npos);
  EXPECT_NE(md.find("... and 13 more sandboxes"), std::string::npos);
}

TEST(Github, MarkdownTableCellsEscapePipes) {
  json report = sample_report();
  report["tests"][2]["nodeid"] = "tests/test_b.py::test_ok[a|b]";
  report["tests"][2]["stop"] = 200.0;
  report["tests"][2]["duration"] = 99.9;
  const std::string md = render_github(report, "").step_summary;
  EXPECT_NE(md.find("`tests/test_b.py::test_ok[a\\|b]`"), std::string::npos) << md;
}

TEST(Gitlab, SectionMarkers) {
  EXPECT_EQ(gitlab_section_start("bulkhead_tests", "Running", true, 1700000000),
            "\x1b[0Ksection_start:1700000000:bulkhead_tests[collapsed=true]\r\x1b[0KRunning\n");
  EXPECT_EQ(gitlab_section_end("bulkhead_tests", 1700000001),
            "\x1b[0Ksection_end:1700000001:bulkhead_tests\r\x1b[0K\n");
}

TEST(Html, EmbedsTheReportSoNoStringEndsTheScript) {
  json report = sample_report();
  report["tests"][1]["phases"][0]["longrepr"] = "</script><script>alert(1)</script><!--";
  const std::string text = report.dump();
  const std::string page = render_html_report(text);
  const std::string open = "<script id=\"bulkhead-data\" type=\"application/json\">";
  const std::size_t begin = page.find(open) + open.size();
  const std::size_t end = page.find("</script>", begin);
  const std::string embedded = page.substr(begin, end - begin);
  EXPECT_EQ(embedded.find('<'), std::string::npos);
  EXPECT_EQ(json::parse(embedded), report);            // the same document
  EXPECT_EQ(page.find("http://"), std::string::npos);  // nothing fetched at view time
  EXPECT_EQ(page.find("https://"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead

// Unit tests of the JSON report and the outcome helpers: round trip through nlohmann, each test
// once, causes and phases, counts; plus the 5000-test render timing of both report writers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <set>

#include "sandbox/error.h"
#include "src/report/json.h"
#include "src/report/junit.h"
#include "src/report/outcome.h"

namespace bulkhead {
namespace {

using nlohmann::json;

PhaseReport phase(std::string when, std::string outcome, std::string category, double start,
                  std::string longrepr = "", std::string message = "") {
  PhaseReport p;
  p.when = std::move(when);
  p.outcome = std::move(outcome);
  p.category = std::move(category);
  p.start = start;
  p.duration = 0.5;
  p.stop = start + 0.5;
  p.longrepr = std::move(longrepr);
  p.message = std::move(message);
  return p;
}

TestRecord record(std::size_t index, std::string nodeid, std::vector<PhaseReport> phases) {
  TestRecord t;
  t.index = index;
  t.nodeid = std::move(nodeid);
  t.worker = "gw1";
  t.phases = std::move(phases);
  t.finished = true;
  return t;
}

std::vector<PhaseReport> passing(double start) {
  return {phase("setup", "passed", "", start), phase("call", "passed", "passed", start + 1),
          phase("teardown", "passed", "", start + 2)};
}

TEST(CauseName, NamesEveryCause) {
  EXPECT_STREQ(cause_name(Cause::None), "");
  EXPECT_STREQ(cause_name(Cause::Timeout), "timeout");
  EXPECT_STREQ(cause_name(Cause::Crash), "crash");
  EXPECT_STREQ(cause_name(Cause::OOM), "oom");
  EXPECT_STREQ(cause_name(Cause::NotRun), "notrun");
}

TEST(Outcome, OverallOutcomeAndPytestCounts) {
  std::vector<TestRecord> tests;
  tests.push_back(record(0, "t.py::test_pass", passing(100)));
  tests.push_back(record(1, "t.py::test_both",
                         {phase("setup", "passed", "", 1), phase("call", "failed", "failed", 2),
                          phase("teardown", "failed", "error", 3)}));
  tests.push_back(record(2, "t.py::test_teardown_error",
                         {phase("setup", "passed", "", 1), phase("call", "passed", "passed", 2),
                          phase("teardown", "failed", "", 3)}));  // category derived
  tests.push_back(
      record(3, "t.py::test_skip_in_setup",
             {phase("setup", "skipped", "skipped", 1), phase("teardown", "passed", "", 2)}));
  PhaseReport xfail = phase("call", "skipped", "", 2);
  xfail.wasxfail = "bug";
  tests.push_back(record(4, "t.py::test_xfail", {phase("setup", "passed", "", 1), xfail}));
  PhaseReport xpass = phase("call", "passed", "xpassed", 2);
  xpass.wasxfail = "bug";
  tests.push_back(record(5, "t.py::test_xpass", {xpass}));
  TestRecord to = record(6, "t.py::test_timeout", {phase("setup", "passed", "", 1)});
  record_cause(to, Cause::Timeout, "Timeout: exceeded 5s", "stack", 2, 5);
  tests.push_back(to);
  TestRecord nr = record(7, "t.py::test_notrun", {});
  record_cause(nr, Cause::NotRun, "not run");
  tests.push_back(nr);
  TestRecord oom = record(8, "t.py::test_oom_setup", {});
  record_cause(oom, Cause::OOM, "OOM");
  tests.push_back(oom);

  const std::vector<std::string> expected = {"passed",  "failed", "error",  "skipped", "xfailed",
                                             "xpassed", "failed", "notrun", "error"};
  for (std::size_t i = 0; i < tests.size(); ++i) {
    EXPECT_EQ(overall_outcome(tests[i]), expected[i]) << tests[i].nodeid;
  }
  const OutcomeCounts c = count_outcomes(tests);
  EXPECT_EQ(c.tests, 9u);
  EXPECT_EQ(c.passed, 2u);  // test_pass, test_teardown_error's call
  EXPECT_EQ(c.failed, 2u);  // test_both's call, test_timeout
  EXPECT_EQ(c.error, 3u);   // test_both's teardown, test_teardown_error, test_oom_setup
  EXPECT_EQ(c.skipped, 1u);
  EXPECT_EQ(c.xfailed, 1u);
  EXPECT_EQ(c.xpassed, 1u);
  EXPECT_EQ(c.notrun, 1u);
  EXPECT_EQ(c.timeout, 1u);
  EXPECT_EQ(c.oom, 1u);
  EXPECT_EQ(c.crash, 0u);

  // record_cause(): the phase it adds, where, and how it is found again.
  ASSERT_EQ(to.phases.size(), 2u);
  EXPECT_EQ(to.phases[1].when, "call");
  EXPECT_EQ(to.phases[1].longrepr, "stack");
  EXPECT_EQ(to.phases[1].stop, 7);
  EXPECT_EQ(cause_phase_index(to), std::optional<std::size_t>(1));
  EXPECT_EQ(interrupted_when(to), "call");
  EXPECT_TRUE(to.finished);
  EXPECT_EQ(oom.phases.at(0).when, "setup");
  EXPECT_EQ(oom.phases.at(0).category, "error");
  EXPECT_TRUE(nr.phases.empty());
  EXPECT_FALSE(cause_phase_index(tests[0]).has_value());
}

TEST(JsonReport, RoundTripsWithEveryTestOnce) {
  std::vector<TestRecord> tests;
  tests.push_back(record(0, "t.py::test_pass", passing(100)));
  tests[0].phases[1].sections = {{"Captured stdout call", "hello\n"}};
  tests.push_back(
      record(1, "t.py::test_fail",
             {phase("setup", "passed", "", 200),
              phase("call", "failed", "failed", 201, "E   assert 1 == 2", "assert 1 == 2"),
              phase("teardown", "passed", "", 202)}));
  TestRecord crash = record(2, "t.py::test_crash", {phase("setup", "passed", "", 300)});
  record_cause(crash, Cause::Crash, "Crash: killed by SIGKILL", "", 301, 0.5);
  tests.push_back(crash);
  TestRecord nr = record(3, "t.py::test_notrun[\xff]", {});  // invalid UTF-8 survives the dump
  nr.worker.clear();
  record_cause(nr, Cause::NotRun, "not run: interrupted");
  tests.push_back(nr);
  tests.push_back(record(1, "t.py::test_fail", passing(400)));  // re-run: replaces index 1

  RunInfo run;
  run.run_id = "r1";
  run.profile = "default";
  run.cgroup_mode = "v1";
  run.workers = 2;
  run.python = "/usr/bin/python3";
  run.pytest_args = {"-q", "tests/"};
  run.start_time = 1700000000;
  run.duration = 3.5;
  run.exit_code = 1;
  run.isolation_missing = {"seccomp"};

  char tmpl[] = "/tmp/bulkhead-json-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/report.json";
  write_json_report(path, tests, run);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ifstream in(path);
  const json doc = json::parse(in);
  std::filesystem::remove_all(tmpl);

  EXPECT_EQ(doc["run"]["run_id"], "r1");
  EXPECT_EQ(doc["run"]["workers"], 2);
  EXPECT_EQ(doc["run"]["pytest_args"], json({"-q", "tests/"}));
  EXPECT_EQ(doc["run"]["exit_code"], 1);
  EXPECT_EQ(doc["run"]["isolation_missing"], json({"seccomp"}));
  EXPECT_EQ(doc["run"]["duration"], 3.5);

  const json& s = doc["summary"];
  EXPECT_EQ(s["tests"], 4);
  EXPECT_EQ(s["passed"], 2);
  EXPECT_EQ(s["failed"], 1);
  EXPECT_EQ(s["crash"], 1);
  EXPECT_EQ(s["notrun"], 1);
  EXPECT_EQ(s["error"], 0);

  const json& t = doc["tests"];
  ASSERT_EQ(t.size(), 4u);
  std::set<std::string> ids;
  for (const json& test : t) ids.insert(test["nodeid"].get<std::string>());
  EXPECT_EQ(ids.size(), 4u) << "each test once";

  EXPECT_EQ(t[0]["outcome"], "passed");
  EXPECT_EQ(t[0]["cause"], "");
  EXPECT_EQ(t[0]["worker"], "gw1");
  EXPECT_EQ(t[0]["duration"], 1.5);
  EXPECT_EQ(t[0]["start"], 100);
  EXPECT_EQ(t[0]["stop"], 102.5);
  ASSERT_EQ(t[0]["phases"].size(), 3u);
  EXPECT_EQ(t[0]["phases"][1]["when"], "call");
  EXPECT_EQ(t[0]["phases"][1]["sections"][0]["name"], "Captured stdout call");
  EXPECT_EQ(t[0]["phases"][1]["sections"][0]["content"], "hello\n");

  EXPECT_EQ(t[1]["index"], 1);
  EXPECT_EQ(t[1]["outcome"], "passed") << "the later record wins";
  EXPECT_EQ(t[1]["start"], 400);

  EXPECT_EQ(t[2]["outcome"], "failed");
  EXPECT_EQ(t[2]["cause"], "crash");
  EXPECT_EQ(t[2]["cause_message"], "Crash: killed by SIGKILL");
  ASSERT_EQ(t[2]["phases"].size(), 2u);
  EXPECT_EQ(t[2]["phases"][1]["when"], "call");
  EXPECT_EQ(t[2]["phases"][1]["outcome"], "failed");
  EXPECT_EQ(t[2]["phases"][1]["category"], "failed");
  EXPECT_EQ(t[2]["phases"][1]["longrepr"], "Crash: killed by SIGKILL");
  EXPECT_EQ(t[2]["stop"], 301.5);

  EXPECT_EQ(t[3]["outcome"], "notrun");
  EXPECT_EQ(t[3]["cause"], "notrun");
  EXPECT_EQ(t[3]["nodeid"], "t.py::test_notrun[\xef\xbf\xbd]");
  EXPECT_EQ(t[3]["phases"], json::array());
  EXPECT_EQ(t[3]["start"], 0);
}

TEST(JsonReport, TextMatchesTheDocument) {
  TestRecord t =
      record(7, "t.py::test_\"q\"\\[\x01\x1f\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff]",
             passing(1.0e9 + 0.123456));
  t.phases[1].longrepr = "line\n\ttab\r\nE   \xed\xa0\x80 surrogate \xc0\xaf overlong";
  t.phases[1].duration = 1e-7;
  t.phases[1].sections = {{"Captured stderr call", std::string("nul\0x", 5)}};
  t.phases[2].duration = 100;  // a whole number stays a float
  std::vector<TestRecord> tests = {t, record(8, "t.py::test_empty", {})};
  RunInfo run;
  run.pytest_args = {"-k", "not slow"};
  run.workers = -1;
  const std::string text = render_json_text(tests, run);
  const json parsed = json::parse(text);
  EXPECT_EQ(parsed, render_json_report(tests, run));
  EXPECT_EQ(parsed["tests"][0]["phases"][2]["duration"].type(), json::value_t::number_float);
  EXPECT_EQ(parsed["tests"][0]["phases"][1]["sections"][0]["content"], std::string("nul\0x", 5));
  EXPECT_NE(text.find("\\u0001"), std::string::npos);
  EXPECT_EQ(parsed["tests"][1]["phases"], json::array());
  // Not-a-number becomes null rather than invalid JSON.
  tests[0].phases[0].duration = std::nan("");
  EXPECT_TRUE(
      json::parse(render_json_text(tests, run))["tests"][0]["phases"][0]["duration"].is_null());
}

TEST(JsonReport, WriteErrorNamesThePath) {
  const std::string bad = "/nonexistent-bulkhead-dir/report.json";
  try {
    write_json_report(bad, ResultStore(), RunInfo{});
    ADD_FAILURE() << "no error";
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

TEST(Reports, FiveThousandTestsRenderFast) {
  std::vector<TestRecord> tests;
  tests.reserve(5000);
  for (std::size_t i = 0; i < 5000; ++i) {
    TestRecord t =
        record(i,
               "tests/pkg" + std::to_string(i % 17) + "/test_mod" + std::to_string(i % 97) +
                   ".py::TestClass::test_case[param-" + std::to_string(i) + "]",
               passing(1000.0 + static_cast<double>(i)));
    t.worker = "gw" + std::to_string(i % 8);
    t.phases[1].sections = {{"Captured stdout call", "some output line\nanother line\n"}};
    if (i % 10 == 0) {
      t.phases[1].outcome = "failed";
      t.phases[1].category = "failed";
      t.phases[1].message = "assert x == y";
      t.phases[1].longrepr = std::string(1500, 'x') + "\nE   assert x == y\n";
    }
    if (i % 250 == 0) {
      t.phases.resize(1);  // timed out in call
      record_cause(t, Cause::Timeout, "Timeout: exceeded 30s", "stack dump");
    }
    tests.push_back(std::move(t));
  }
  RunInfo run;
  run.workers = 8;

  auto t0 = std::chrono::steady_clock::now();
  const std::string xml = render_junit_xml(tests, run);
  auto t1 = std::chrono::steady_clock::now();
  const std::string text = render_json_text(tests, run);
  auto t2 = std::chrono::steady_clock::now();
  using ms = std::chrono::duration<double, std::milli>;
  std::printf("[ timing   ] 5000 tests: junit %.1f ms (%zu KiB), json %.1f ms (%zu KiB)\n",
              ms(t1 - t0).count(), xml.size() / 1024, ms(t2 - t1).count(), text.size() / 1024);

  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str()));
  pugi::xml_node suite = doc.child("testsuites").child("testsuite");
  EXPECT_STREQ(suite.attribute("tests").value(), "5000");
  EXPECT_STREQ(suite.attribute("failures").value(), "500");
  EXPECT_EQ(std::distance(suite.children("testcase").begin(), suite.children("testcase").end()),
            5000);
  const json back = json::parse(text);
  EXPECT_EQ(back["tests"].size(), 5000u);
  EXPECT_EQ(back["summary"]["timeout"], 20);
  EXPECT_EQ(back["summary"]["failed"], 500);
}

}  // namespace
}  // namespace bulkhead

// Unit tests of the JUnit XML writer: parse the output back with pugixml and check names,
// counts, our causes, escaping, properties, one case per test, and the atomic file write.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <sstream>

#include "sandbox/error.h"
#include "src/report/junit.h"
#include "src/report/outcome.h"

namespace bulkhead {
namespace {

PhaseReport phase(std::string when, std::string outcome, std::string category,
                  std::string longrepr = "", std::string message = "") {
  PhaseReport p;
  p.when = std::move(when);
  p.outcome = std::move(outcome);
  p.category = std::move(category);
  p.duration = 0.25;
  p.longrepr = std::move(longrepr);
  p.message = std::move(message);
  return p;
}

TestRecord record(std::size_t index, std::string nodeid, std::vector<PhaseReport> phases) {
  TestRecord t;
  t.index = index;
  t.nodeid = std::move(nodeid);
  t.worker = "gw" + std::to_string(index % 2);
  t.phases = std::move(phases);
  t.finished = true;
  return t;
}

TestRecord passed(std::size_t index, std::string nodeid) {
  return record(index, std::move(nodeid),
                {phase("setup", "passed", ""), phase("call", "passed", "passed"),
                 phase("teardown", "passed", "")});
}

struct Parsed {
  pugi::xml_document doc;
  pugi::xml_node suite;
  pugi::xml_node testcase(const std::string& name) const {
    return suite.find_child_by_attribute("testcase", "name", name.c_str());
  }
};

void parse(const std::string& xml, Parsed& out) {
  pugi::xml_parse_result result = out.doc.load_string(xml.c_str());
  ASSERT_TRUE(result) << result.description() << " at " << result.offset << "\n" << xml;
  out.suite = out.doc.child("testsuites").child("testsuite");
  ASSERT_TRUE(out.suite);
}

TEST(JunitXml, NamesFollowPytest) {
  std::vector<TestRecord> tests = {
      passed(0, "tests/unit/test_x.py::TestC::test_m[a/b::c-1.5]"), passed(1, "test_y.py::test_f"),
      passed(2, "pkg/test_z.py::TestOuter::TestInner::test_n"),
      passed(3, "pkg/mod.py::pkg.mod.func"),  // a doctest
  };
  Parsed p;
  parse(render_junit_xml(tests, RunInfo{}), p);
  auto tc = p.testcase("test_m[a/b::c-1.5]");
  ASSERT_TRUE(tc);
  EXPECT_STREQ(tc.attribute("classname").value(), "tests.unit.test_x.TestC");
  EXPECT_STREQ(tc.attribute("time").value(), "0.750");
  EXPECT_STREQ(p.testcase("test_f").attribute("classname").value(), "test_y");
  EXPECT_STREQ(p.testcase("test_n").attribute("classname").value(),
               "pkg.test_z.TestOuter.TestInner");
  EXPECT_STREQ(p.testcase("pkg.mod.func").attribute("classname").value(), "pkg.mod");
  // xunit2 keeps only classname, name and time on a testcase.
  EXPECT_FALSE(tc.attribute("file"));
  EXPECT_FALSE(tc.attribute("line"));
}

TEST(JunitXml, EveryOutcomeAndCauseMapsAsDocumented) {
  std::vector<TestRecord> tests;
  tests.push_back(passed(0, "t.py::test_pass"));
  tests.push_back(
      record(1, "t.py::test_fail",
             {phase("setup", "passed", ""),
              phase("call", "failed", "failed",
                    "def test_fail():\n>   assert 1 == 2\nE   assert 1 == 2", "assert 1 == 2"),
              phase("teardown", "passed", "")}));
  tests.push_back(record(2, "t.py::test_setup_error",
                         {phase("setup", "failed", "error", "fixture 'db' not found", ""),
                          phase("teardown", "passed", "")}));
  tests.push_back(
      record(3, "t.py::test_both",
             {phase("setup", "passed", ""), phase("call", "failed", "failed", "E   boom", "boom"),
              phase("teardown", "failed", "error", "E   cleanup", "cleanup")}));
  PhaseReport skip = phase("setup", "skipped", "skipped", "t.py:10: Skipped: no GPU", "");
  skip.raw = {{"longrepr", {"/src/t.py", 10, "Skipped: no GPU"}}};
  tests.push_back(record(4, "t.py::test_skip", {skip, phase("teardown", "passed", "")}));
  PhaseReport xfail = phase("call", "skipped", "xfailed", "E  known bug");
  xfail.wasxfail = "reason: issue 12";
  tests.push_back(record(5, "t.py::test_xfail",
                         {phase("setup", "passed", ""), xfail, phase("teardown", "passed", "")}));

  TestRecord timeout = record(6, "t.py::test_timeout", {phase("setup", "passed", "")});
  record_cause(timeout, Cause::Timeout, "Timeout: exceeded 5s",
               "Thread 0x1 (most recent call first):\n  File \"t.py\", line 3 in test_timeout");
  tests.push_back(timeout);
  TestRecord crash = record(7, "t.py::test_crash_in_setup", {});
  record_cause(crash, Cause::Crash, "Crash: worker killed by SIGSEGV");
  tests.push_back(crash);
  TestRecord oom = record(8, "t.py::test_oom", {phase("setup", "passed", "")});
  oom.cause = Cause::OOM;  // set without record_cause(): still typed, text from the message
  oom.cause_message = "OOM: memory limit 512 MiB";
  tests.push_back(oom);
  TestRecord notrun = record(9, "t.py::test_notrun", {});
  record_cause(notrun, Cause::NotRun, "not run: --maxfail reached");
  notrun.worker.clear();
  tests.push_back(notrun);
  TestRecord teardown_crash =
      record(10, "t.py::test_teardown_crash",
             {phase("setup", "passed", ""), phase("call", "passed", "passed")});
  record_cause(teardown_crash, Cause::Crash, "Crash: exit status 3");
  tests.push_back(teardown_crash);

  Parsed p;
  parse(render_junit_xml(tests, RunInfo{}), p);
  EXPECT_STREQ(p.suite.attribute("name").value(), "pytest");
  EXPECT_STREQ(p.suite.attribute("tests").value(), "11");
  // failures: test_fail, test_both, test_timeout, test_oom
  EXPECT_STREQ(p.suite.attribute("failures").value(), "4");
  // errors: test_setup_error, test_both (teardown), test_crash_in_setup, test_teardown_crash
  EXPECT_STREQ(p.suite.attribute("errors").value(), "4");
  // skipped: test_skip, test_xfail, test_notrun
  EXPECT_STREQ(p.suite.attribute("skipped").value(), "3");

  EXPECT_FALSE(p.testcase("test_pass").first_child().next_sibling()) << "only <properties>";

  auto failure = p.testcase("test_fail").child("failure");
  ASSERT_TRUE(failure);
  EXPECT_STREQ(failure.attribute("message").value(), "assert 1 == 2");
  EXPECT_FALSE(failure.attribute("type"));
  EXPECT_NE(std::string(failure.text().get()).find(">   assert 1 == 2"), std::string::npos);

  auto error = p.testcase("test_setup_error").child("error");
  ASSERT_TRUE(error);
  EXPECT_STREQ(error.attribute("message").value(),
               "failed on setup with \"fixture 'db' not found\"");

  auto both = p.testcase("test_both");
  EXPECT_STREQ(both.child("failure").attribute("message").value(), "boom");
  EXPECT_STREQ(both.child("error").attribute("message").value(),
               "failed on teardown with \"cleanup\"");

  auto skipped = p.testcase("test_skip").child("skipped");
  EXPECT_STREQ(skipped.attribute("type").value(), "pytest.skip");
  EXPECT_STREQ(skipped.attribute("message").value(), "no GPU");
  EXPECT_STREQ(skipped.text().get(), "/src/t.py:10: no GPU");

  auto xfailed = p.testcase("test_xfail").child("skipped");
  EXPECT_STREQ(xfailed.attribute("type").value(), "pytest.xfail");
  EXPECT_STREQ(xfailed.attribute("message").value(), "issue 12");

  auto to = p.testcase("test_timeout").child("failure");
  ASSERT_TRUE(to);
  EXPECT_STREQ(to.attribute("type").value(), "timeout");
  EXPECT_STREQ(to.attribute("message").value(), "Timeout: exceeded 5s");
  EXPECT_NE(std::string(to.text().get()).find("most recent call first"), std::string::npos);
  EXPECT_FALSE(to.next_sibling("failure")) << "the cause's phase is reported once";

  auto cr = p.testcase("test_crash_in_setup").child("error");
  ASSERT_TRUE(cr);
  EXPECT_STREQ(cr.attribute("type").value(), "crash");
  EXPECT_STREQ(cr.attribute("message").value(), "Crash: worker killed by SIGSEGV (during setup)");
  EXPECT_FALSE(p.testcase("test_crash_in_setup").child("failure"));

  auto oo = p.testcase("test_oom").child("failure");
  ASSERT_TRUE(oo);
  EXPECT_STREQ(oo.attribute("type").value(), "oom");
  EXPECT_STREQ(oo.text().get(), "OOM: memory limit 512 MiB");

  auto nr = p.testcase("test_notrun");
  EXPECT_STREQ(nr.child("skipped").attribute("type").value(), "notrun");
  EXPECT_STREQ(nr.child("skipped").attribute("message").value(), "not run: --maxfail reached");
  EXPECT_FALSE(nr.child("properties")) << "no worker ran it";

  auto tc = p.testcase("test_teardown_crash").child("error");
  EXPECT_STREQ(tc.attribute("type").value(), "crash");
  EXPECT_STREQ(tc.attribute("message").value(), "Crash: exit status 3 (during teardown)");
}

TEST(JunitXml, ControlCharactersQuotesAndBadUtf8StillParse) {
  TestRecord t =
      record(0, "t.py::test_out[\"q\"<&>]",
             {phase("setup", "passed", ""),
              phase("call", "failed", "failed", "E   bell\a nul", "said \"hi\" <&> \x1b[31m"),
              phase("teardown", "passed", "")});
  std::string nul_text = "red \x1b[31mX\x1b[0m nul:";
  nul_text += '\0';
  nul_text += " del:\x7f bad:\xff\xfe ok:\xc3\xa9 nonchar:\xef\xbf\xbe tab:\t cr:\r end";
  t.phases[1].sections = {{"Captured stdout call", nul_text},
                          {"Captured stderr call", "warn\x01\n"},
                          {"Captured log call", "WARNING x\n"}};
  // pytest repeats earlier sections in the teardown report: shown once.
  t.phases[2].sections = t.phases[1].sections;
  const std::string xml = render_junit_xml({t}, RunInfo{});
  for (unsigned char c : xml) {
    ASSERT_TRUE(c >= 0x20 || c == '\n' || c == '\t' || c == '\r') << "raw control byte " << int(c);
  }
  Parsed p;
  parse(xml, p);
  auto tc = p.suite.child("testcase");
  EXPECT_STREQ(tc.attribute("name").value(), "test_out[\"q\"<&>]");
  EXPECT_STREQ(tc.child("failure").attribute("message").value(), "said \"hi\" <&> #x1B[31m");
  EXPECT_STREQ(tc.child("failure").text().get(), "E   bell#x07 nul");
  const std::string out = tc.child("system-out").text().get();
  EXPECT_NE(out.find("red #x1B[31mX#x1B[0m nul:#x00 del:#x7F bad:#xFF#xFE ok:\xc3\xa9"
                     " nonchar:#xFFFE tab:\t cr:"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("Captured Out"), out.rfind("Captured Out")) << "sections merged";
  EXPECT_LT(out.find(" Captured Log "), out.find(" Captured Out "));
  EXPECT_EQ(out.substr(0, 33), std::string(33, '-'));
  EXPECT_STREQ(
      tc.child("system-err").text().get(),
      (std::string(33, '-') + " Captured Err " + std::string(33, '-') + "\nwarn#x01\n\n").c_str());
}

TEST(JunitXml, WorkerAndUserPropertiesComeFirst) {
  TestRecord t = passed(0, "t.py::test_p");
  t.worker = "gw3";
  t.phases[2].raw = nlohmann::json::object(
      {{"user_properties", nlohmann::json::array({nlohmann::json::array({"ticket", "ABC-1"}),
                                                  nlohmann::json::array({"size", 42})})}});
  Parsed p;
  parse(render_junit_xml({t}, RunInfo{}), p);
  auto tc = p.suite.child("testcase");
  ASSERT_STREQ(tc.first_child().name(), "properties");
  auto prop = tc.child("properties").child("property");
  EXPECT_STREQ(prop.attribute("name").value(), "worker");
  EXPECT_STREQ(prop.attribute("value").value(), "gw3");
  prop = prop.next_sibling("property");
  EXPECT_STREQ(prop.attribute("name").value(), "ticket");
  EXPECT_STREQ(prop.attribute("value").value(), "ABC-1");
  EXPECT_STREQ(prop.next_sibling("property").attribute("value").value(), "42");
}

TEST(JunitXml, EachTestOnceAndSuiteAttributes) {
  std::vector<TestRecord> tests = {passed(0, "a.py::test_1"), passed(1, "a.py::test_2")};
  TestRecord again = record(0, "a.py::test_1", {phase("call", "failed", "failed", "E", "x")});
  tests.push_back(again);  // a later record of the same test replaces the first
  RunInfo run;
  run.start_time = 1700000000.5;
  run.duration = 12.3456;
  Parsed p;
  parse(render_junit_xml(tests, run), p);
  EXPECT_EQ(std::distance(p.suite.children("testcase").begin(), p.suite.children("testcase").end()),
            2);
  EXPECT_STREQ(p.suite.attribute("tests").value(), "2");
  EXPECT_STREQ(p.suite.attribute("failures").value(), "1");
  EXPECT_STREQ(p.suite.first_child().attribute("name").value(), "test_1") << "keeps its position";
  EXPECT_STREQ(p.suite.attribute("time").value(), "12.346");
  const std::string stamp = p.suite.attribute("timestamp").value();
  EXPECT_EQ(stamp.size(), 26u) << stamp;  // 2023-11-14T22:13:20.500000 (local time)
  EXPECT_EQ(stamp.substr(19), ".500000");
  EXPECT_FALSE(std::string(p.suite.attribute("hostname").value()).empty());
  const std::string xml = render_junit_xml(tests, run);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>", 0), 0u);
}

TEST(JunitXml, WritesAtomicallyAndNamesThePathOnError) {
  char tmpl[] = "/tmp/bulkhead-junit-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir = tmpl;
  const std::string path = (dir / "report.xml").string();
  write_junit_xml(path, {passed(0, "a.py::test_1")}, RunInfo{});
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  Parsed p;
  parse(text.str(), p);
  EXPECT_STREQ(p.suite.attribute("tests").value(), "1");

  const std::string bad = (dir / "missing" / "report.xml").string();
  try {
    write_junit_xml(bad, ResultStore(), RunInfo{});
    ADD_FAILURE() << "no error";
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bulkhead

// Unit tests of per-test resources: the `finished` event's decoding (types enforced, each field
// optional), the JSON report (only what was measured, both writers alike), the JUnit properties
// (units in their names) and reading a report back for `bulkhead merge`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <pugixml.hpp>

#include "src/merge/report_reader.h"
#include "src/report/json.h"
#include "src/report/junit.h"
#include "src/report/top_memory.h"
#include "src/run/protocol.h"

namespace bulkhead {
namespace {

using nlohmann::json;

TestRecord measured_test() {
  TestRecord t;
  t.index = 0;
  t.nodeid = "t.py::test_big";
  t.worker = "gw0";
  PhaseReport call;
  call.when = "call";
  call.outcome = "passed";
  call.category = "passed";
  call.duration = 0.5;
  t.phases = {call};
  t.finished = true;
  TestResources r;
  r.cpu_s = 0.3125;
  r.cpu_source = "cgroup";
  r.memory_peak_bytes = 260046848;
  r.memory_start_bytes = 50331648;
  r.memory_peak_scope = "test";
  r.pids_started = 5;
  t.resources = r;
  return t;
}

TEST(ResourcesProtocol, FinishedCarriesWhatTheWorkerMeasured) {
  using protocol::decode_event;
  using protocol::FinishedEvent;
  const auto event = std::get<FinishedEvent>(decode_event(
      R"({"event":"finished","index":3,"resources":{"cpu_s":0.25,"cpu_source":"cgroup",)"
      R"("memory_peak_bytes":1048576,"memory_start_bytes":524288,"memory_peak_scope":"test",)"
      R"("pids_started":5}})"));
  EXPECT_EQ(event.index, 3u);
  ASSERT_TRUE(event.resources);
  EXPECT_DOUBLE_EQ(*event.resources->cpu_s, 0.25);
  EXPECT_EQ(event.resources->cpu_source, "cgroup");
  EXPECT_EQ(*event.resources->memory_peak_bytes, 1048576u);
  EXPECT_EQ(*event.resources->memory_start_bytes, 524288u);
  EXPECT_EQ(event.resources->memory_peak_scope, "test");
  EXPECT_EQ(*event.resources->pids_started, 5u);

  // Each figure is optional: a worker without a cgroup sends what it has.
  const auto partial = std::get<FinishedEvent>(decode_event(
      R"({"event":"finished","index":1,"resources":{"cpu_s":0.5,"cpu_source":"rusage"}})"));
  ASSERT_TRUE(partial.resources);
  EXPECT_FALSE(partial.resources->memory_peak_bytes);
  EXPECT_FALSE(partial.resources->pids_started);
  EXPECT_FALSE(
      std::get<FinishedEvent>(decode_event(R"({"event":"finished","index":1})")).resources);
}

TEST(ResourcesProtocol, MistypedFiguresAreProtocolErrorsNamingTheField) {
  using protocol::decode_event;
  using protocol::ProtocolError;
  for (const char* line : {
           R"({"event":"finished","index":1,"resources":[1]})",
           R"({"event":"finished","index":1,"resources":{"cpu_s":"fast"}})",
           R"({"event":"finished","index":1,"resources":{"cpu_s":-1}})",
           R"({"event":"finished","index":1,"resources":{"memory_peak_bytes":-5}})",
           R"({"event":"finished","index":1,"resources":{"pids_started":1.5}})",
       }) {
    EXPECT_THROW(decode_event(line), ProtocolError) << line;
  }
  try {
    decode_event(R"({"event":"finished","index":1,"resources":{"pids_started":"5"}})");
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("'pids_started'"), std::string::npos) << error.what();
  }
}

TEST(ResourcesReport, JsonHasOnlyWhatWasMeasured) {
  TestRecord big = measured_test();
  TestRecord partial = measured_test();
  partial.index = 1;
  partial.nodeid = "t.py::test_partial";
  partial.resources = TestResources{};
  partial.resources->cpu_s = 0.5;
  partial.resources->cpu_source = "rusage";
  TestRecord lost = measured_test();
  lost.index = 2;
  lost.nodeid = "t.py::test_lost";
  lost.resources.reset();
  const std::vector<TestRecord> tests = {big, partial, lost};
  const json report = render_json_report(tests, RunInfo{});
  EXPECT_EQ(json::parse(render_json_text(tests, RunInfo{})), report);
  const json& r = report["tests"][0]["resources"];
  EXPECT_DOUBLE_EQ(r["cpu_s"].get<double>(), 0.3125);
  EXPECT_EQ(r["cpu_source"], "cgroup");
  EXPECT_EQ(r["memory_peak_bytes"], 260046848u);
  EXPECT_EQ(r["memory_start_bytes"], 50331648u);
  EXPECT_EQ(r["memory_peak_scope"], "test");
  EXPECT_EQ(r["pids_started"], 5u);
  EXPECT_EQ(report["tests"][1]["resources"], json({{"cpu_s", 0.5}, {"cpu_source", "rusage"}}));
  EXPECT_FALSE(report["tests"][2].contains("resources"));
}

TEST(ResourcesReport, JunitPropertiesNameTheirUnits) {
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(render_junit_xml({measured_test()}, RunInfo{}).c_str()));
  std::map<std::string, std::string> props;
  for (const pugi::xpath_node& found : doc.select_nodes("//testcase/properties/property")) {
    props[found.node().attribute("name").value()] = found.node().attribute("value").value();
  }
  EXPECT_EQ(props["bulkhead_cpu_seconds"], "0.312");
  EXPECT_EQ(props["bulkhead_memory_peak_bytes"], "260046848");
  EXPECT_EQ(props["bulkhead_memory_start_bytes"], "50331648");
  EXPECT_EQ(props["bulkhead_memory_peak_scope"], "test");
  EXPECT_EQ(props["bulkhead_pids_started"], "5");
}

TEST(ResourcesReport, MergeReadsThemBack) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("bulkhead-resources-" + std::to_string(::getpid()) + ".json"))
                               .string();
  write_json_report(path, {measured_test()}, RunInfo{});
  const ShardInput input = read_shard_report(path);
  std::filesystem::remove(path);
  ASSERT_EQ(input.tests.size(), 1u);
  ASSERT_TRUE(input.tests[0].resources);
  const TestResources& r = *input.tests[0].resources;
  EXPECT_DOUBLE_EQ(*r.cpu_s, 0.3125);
  EXPECT_EQ(*r.memory_peak_bytes, 260046848u);
  EXPECT_EQ(*r.memory_start_bytes, 50331648u);
  EXPECT_EQ(r.memory_peak_scope, "test");
  EXPECT_EQ(*r.pids_started, 5u);
}

TEST(TopMemory, HighestPeaksFirstWithUnits) {
  TestRecord big = measured_test();
  TestRecord small = measured_test();
  small.nodeid = "t.py::test_small";
  small.resources->memory_peak_bytes = 52428800;  // 50 MiB
  small.resources->memory_start_bytes = 52428800;
  small.resources->cpu_s = 0.001;
  small.resources->pids_started = 0;
  TestRecord lost = measured_test();
  lost.nodeid = "t.py::test_lost";
  lost.resources.reset();
  const TopMemory top = top_memory({&small, &lost, &big}, 5);
  EXPECT_EQ(top.title, "top 5 memory peaks");
  ASSERT_EQ(top.lines.size(), 3u);  // the header, then the two measured tests
  EXPECT_EQ(top.lines[0], "       peak      growth      CPU  pids  test");
  EXPECT_EQ(top.lines[1], "  248.0 MiB  +200.0 MiB    0.31s     5  t.py::test_big");
  EXPECT_EQ(top.lines[2], "   50.0 MiB    +0.0 MiB    0.00s     0  t.py::test_small");
  EXPECT_EQ(top_memory({&small, &big}, 1).lines.size(), 2u);
  EXPECT_EQ(top_memory({&small, &big}, 0).title, "memory peaks");
}

TEST(TopMemory, SandboxPeaksAreSaidSoAndNoFiguresExplained) {
  TestRecord old_kernel = measured_test();
  old_kernel.resources->memory_start_bytes.reset();
  old_kernel.resources->memory_peak_scope = "sandbox";
  old_kernel.resources->cpu_s.reset();
  const TopMemory top = top_memory({&old_kernel}, 3);
  ASSERT_EQ(top.lines.size(), 3u);
  EXPECT_EQ(top.lines[1], "  248.0 MiB           -        -     5  t.py::test_big");
  EXPECT_NE(top.lines[2].find("sandbox's so far"), std::string::npos);
  TestRecord none = measured_test();
  none.resources.reset();
  const TopMemory empty = top_memory({&none}, 3);
  ASSERT_EQ(empty.lines.size(), 1u);
  EXPECT_NE(empty.lines[0].find("no memory cgroup"), std::string::npos);
  EXPECT_EQ(format_mebibytes(1536 * 1024), "1.5 MiB");
}

}  // namespace
}  // namespace bulkhead

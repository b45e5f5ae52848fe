// Unit tests for the worker channel's JSON-lines framing and event decoding.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/run/protocol.h"

namespace bulkhead::protocol {
namespace {

TEST(LineSplitter, YieldsCompleteLinesAcrossChunks) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) { lines.emplace_back(line); };
  splitter.feed("{\"a\":1}\n{\"b\"", collect);
  EXPECT_EQ(lines, std::vector<std::string>{"{\"a\":1}"});
  EXPECT_EQ(splitter.partial(), "{\"b\"");
  splitter.feed(":2}\n\n", collect);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", ""}));
  EXPECT_TRUE(splitter.partial().empty());
}

TEST(LineSplitter, RefusesOversizedLines) {
  LineSplitter splitter(16);
  auto ignore = [](std::string_view) {};
  EXPECT_NO_THROW(splitter.feed("0123456789\n", ignore));
  EXPECT_THROW(splitter.feed(std::string(40, 'x'), ignore), ProtocolError);
}

TEST(Decode, CollectedEvent) {
  const Event event = decode_event(
      R"({"event":"collected","protocol":1,"pid":42,"items":[{"nodeid":"t.py::a"},)"
      R"({"nodeid":"t.py::b","group":"db"}],"deselected":3,"collect_reports":[],)"
      R"("settings":{"tbstyle":"short","showcapture":"all","reportchars":"fE","verbose":1,)"
      R"("maxfail":1,"capture":"fd","continue_on_collection_errors":false,"color":false,)"
      R"("rootdir":"/p","ini_timeout":"","python":"3.11.2","pytest":"7.2.1"}})");
  const auto& collected = std::get<CollectedEvent>(event);
  ASSERT_EQ(collected.items.size(), 2u);
  EXPECT_EQ(collected.items[1].nodeid, "t.py::b");
  EXPECT_EQ(collected.items[1].group, "db");
  EXPECT_EQ(collected.deselected, 3u);
  EXPECT_EQ(collected.settings.tbstyle, "short");
  EXPECT_EQ(collected.settings.maxfail, 1);
}

TEST(Decode, ReportEventKeepsPhaseAndDisplay) {
  const Event event = decode_event(
      R"({"event":"report","index":4,"when":"call","outcome":"failed","category":"failed",)"
      R"("letter":"F","word":"FAILED","duration":0.5,"start":10,"stop":10.5,)"
      R"("head_line":"test_a","longrepr":"E  assert 1 == 2\n","message":"assert 1 == 2",)"
      R"("sections":[["Captured stdout call","hi\n"]],"raw":{"nodeid":"t.py::a"}})");
  const auto& report = std::get<ReportEvent>(event);
  ASSERT_TRUE(report.index.has_value());
  EXPECT_EQ(*report.index, 4u);
  const PhaseReport& phase = report.report.phase;
  EXPECT_EQ(phase.outcome, "failed");
  EXPECT_EQ(phase.letter, "F");
  EXPECT_DOUBLE_EQ(phase.duration, 0.5);
  ASSERT_EQ(phase.sections.size(), 1u);
  EXPECT_EQ(phase.sections[0].second, "hi\n");
  EXPECT_EQ(phase.raw["nodeid"], "t.py::a");
  EXPECT_EQ(report.report.display.head_line, "test_a");
}

TEST(Decode, SmallEvents) {
  EXPECT_EQ(
      std::get<StartEvent>(decode_event(R"({"event":"start","index":2,"timeout":null})")).index,
      2u);
  const auto start =
      std::get<StartEvent>(decode_event(R"({"event":"start","index":2,"timeout":1.5})"));
  ASSERT_TRUE(start.timeout_s.has_value());
  EXPECT_DOUBLE_EQ(*start.timeout_s, 1.5);
  EXPECT_EQ(std::get<FinishedEvent>(decode_event(R"({"event":"finished","index":7})")).index, 7u);
  EXPECT_TRUE(std::holds_alternative<DoneEvent>(decode_event(R"({"event":"done"})")));
}

TEST(Decode, MalformedLinesAreErrorsWithContext) {
  try {
    decode_event(R"({"event":"report","index":1,"when":"call")");  // truncated
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("malformed JSON"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("\"event\":\"report\""), std::string::npos);
  }
  try {
    decode_event(R"({"event":"finished","index":"seven"})");
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("'index'"), std::string::npos);
  }
  EXPECT_THROW(decode_event(R"({"event":"bogus"})"), ProtocolError);
  EXPECT_THROW(decode_event("[1,2]"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"no_event":1})"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"report","index":1,"outcome":"passed"})"), ProtocolError);
  EXPECT_THROW(
      decode_event(R"({"event":"report","when":"call","outcome":"passed","sections":[1]})"),
      ProtocolError);
}

TEST(Encode, Commands) {
  EXPECT_EQ(encode_run({1, 2, 30}), "{\"cmd\":\"run\",\"indices\":[1,2,30]}\n");
  EXPECT_EQ(encode_shutdown(), "{\"cmd\":\"shutdown\"}\n");
  EXPECT_EQ(encode_stop(), "{\"cmd\":\"stop\"}\n");
}

}  // namespace
}  // namespace bulkhead::protocol

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

TEST(LineSplitter, RefusesAnOversizedLineCompletedInOneChunk) {
  LineSplitter splitter(16);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) { lines.emplace_back(line); };
  EXPECT_NO_THROW(splitter.feed(std::string(16, 'x') + "\n", collect));  // exactly the cap
  try {
    splitter.feed(std::string(17, 'y') + "\n", collect);
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("a line longer than 16 bytes"), std::string::npos);
  }
  EXPECT_EQ(lines.size(), 1u);
}

TEST(LineSplitter, DropsEverythingAfterAnOversizedLine) {
  LineSplitter splitter(16);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) { lines.emplace_back(line); };
  EXPECT_THROW(splitter.feed(std::string(40, 'x'), collect), ProtocolError);
  EXPECT_TRUE(splitter.partial().empty());  // its memory is released
  EXPECT_NO_THROW(splitter.feed("\n{\"event\":\"done\"}\n", collect));
  EXPECT_TRUE(lines.empty());  // the stream is broken: a forged tail is not read
}

TEST(LineSplitter, CapChangesForLinesCompletedLater) {
  LineSplitter splitter(64);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) {
    lines.emplace_back(line);
    splitter.set_max_line(8);  // as the supervisor does once `collected` arrives
  };
  EXPECT_NO_THROW(splitter.feed(std::string(60, 'c') + "\n" + "short\n", collect));
  EXPECT_EQ(lines.size(), 2u);
  EXPECT_THROW(splitter.feed("more than eight\n", collect), ProtocolError);
}

TEST(LineCaps, EventCapLeavesRoomForEscapedCapturedOutput) {
  EXPECT_EQ(event_line_cap(0), std::size_t{16} << 20);
  EXPECT_EQ(event_line_cap(1 << 20), std::size_t{24} << 20);  // the default --output-cap
  // The worst case of a full output cap: every byte a six-byte JSON escape.
  EXPECT_GT(event_line_cap(std::uint64_t{64} << 20), std::size_t{6} * (std::size_t{64} << 20));
  EXPECT_EQ(event_line_cap(~std::uint64_t{0}), ~std::size_t{0});  // saturates
  EXPECT_GT(kCollectionLineCap, event_line_cap(1 << 20));
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

TEST(Decode, ErrorsQuoteTheLineWithoutItsControlBytes) {
  // The quote reaches the terminal and the reports: a hostile worker's escape sequences, NULs
  // and invalid UTF-8 are shown, not sent.
  try {
    decode_event(std::string("\x1b]0;pwned\x07\0\xff{", 13));
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_EQ(std::string(error.what()), "malformed JSON line: \\x1b]0;pwned\\x07\\x00\\xff{");
  }
}

TEST(Decode, RefusesDeepNesting) {
  // Regression: a `raw` nested ~100k deep parsed fine but overflowed the supervisor's stack
  // when the record was copied into the run's results.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    decode_event(R"({"event":"report","index":0,"when":"call","outcome":"passed","raw":)" + deep +
                 "}");
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("nested deeper than 64"), std::string::npos);
  }
  // Brackets inside strings do not count; the limit itself is accepted.
  const std::string in_string = "\"" + std::string(1000, '[') + "\\\"{\"";
  EXPECT_NO_THROW(decode_event(R"({"event":"warning","message":)" + in_string + "}"));
  const std::string at_limit =
      std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']');
  EXPECT_NO_THROW(decode_event(R"({"event":"report","when":"call","outcome":"passed","raw":)" +
                               at_limit + "}"));
}

TEST(Decode, RefusesNegativeCountsAndSaturatesTimeouts) {
  EXPECT_THROW(decode_event(R"({"event":"collected","items":[],"deselected":-1,"settings":{}})"),
               ProtocolError);
  // Regression: a timeout of 1e308 s overflowed the deadline arithmetic (undefined behaviour).
  const auto start =
      std::get<StartEvent>(decode_event(R"({"event":"start","index":0,"timeout":1e308})"));
  EXPECT_EQ(start.timeout_s, kMaxSeconds);
  const auto timeout =
      std::get<TimeoutEvent>(decode_event(R"({"event":"timeout","index":0,"seconds":1e300})"));
  EXPECT_EQ(timeout.seconds, kMaxSeconds);
  EXPECT_THROW(decode_event(R"({"event":"start","index":-1})"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"start","index":1.0})"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"start","index":0,"timeout":"5"})"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"timeout","index":0,"seconds":1e999})"), ProtocolError);
}

TEST(Encode, Commands) {
  EXPECT_EQ(encode_run({1, 2, 30}), "{\"cmd\":\"run\",\"indices\":[1,2,30]}\n");
  EXPECT_EQ(encode_shutdown(), "{\"cmd\":\"shutdown\"}\n");
  EXPECT_EQ(encode_stop(), "{\"cmd\":\"stop\"}\n");
}

}  // namespace
}  // namespace bulkhead::protocol

// Unit tests for the fast path of common channel lines (src/run/protocol_fast.h): it takes the
// lines a passing test sends, and for every line it takes, whatever the bytes, it gives exactly
// the event the general parser gives (checked on the usual lines and on many mutations of
// them: cut, duplicated, retyped, escaped, garbled).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "src/run/protocol.h"
#include "src/run/protocol_fast.h"
#include "tests/unit/line_mutation.h"

namespace bulkhead::protocol {
namespace {

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%a", value);
  return text;
}

template <typename T>
std::string optional_text(const std::optional<T>& value) {
  if (!value) return "-";
  if constexpr (std::is_same_v<T, double>) {
    return number(*value);
  } else {
    return std::to_string(*value);
  }
}

// Every field the three events carry, exactly (doubles in hex).
std::string describe(const Event& event) {
  if (const auto* start = std::get_if<StartEvent>(&event)) {
    return "start " + std::to_string(start->index) + " " + optional_text(start->timeout_s);
  }
  if (const auto* report = std::get_if<ReportEvent>(&event)) {
    const PhaseReport& p = report->report.phase;
    const PhaseDisplay& d = report->report.display;
    std::string out = "report " + optional_text(report->index);
    for (const std::string* text :
         {&p.when, &p.outcome, &p.category, &p.letter, &p.word, &p.longrepr, &p.message,
          &p.wasxfail, &d.head_line, &d.longrepr_color, &d.skip_path}) {
      out += "|" + *text;
    }
    out += "|" + number(p.duration) + "|" + number(p.start) + "|" + number(p.stop);
    out += "|" + std::to_string(p.sections.size()) + "|" + p.raw.dump() + "|" +
           optional_text(d.skip_lineno);
    return out;
  }
  if (const auto* finished = std::get_if<FinishedEvent>(&event)) {
    std::string out = "finished " + std::to_string(finished->index);
    if (const auto& r = finished->resources) {
      out += " cpu=" + optional_text(r->cpu_s) + " src=" + r->cpu_source +
             " peak=" + optional_text(r->memory_peak_bytes) +
             " start=" + optional_text(r->memory_start_bytes) + " scope=" + r->memory_peak_scope +
             " pids=" + optional_text(r->pids_started);
    }
    return out;
  }
  return "other event " + std::to_string(event.index());
}

// The general parser's verdict: the event described, or "error".
std::string generic(std::string_view line) {
  try {
    return describe(decode_event_generic(line));
  } catch (const ProtocolError&) {
    return "error";
  }
}

// The invariant: what the fast path takes, the general parser decodes the same.
void expect_agrees(const std::string& line) {
  const std::optional<Event> fast = decode_common_event(line);
  if (!fast) return;
  EXPECT_EQ(describe(*fast), generic(line)) << "line: " << line;
}

const std::vector<std::string> kCommonLines = {
    R"({"event":"start","index":1,"timeout":null})",
    R"({"event":"start","index":7,"timeout":2.5})",
    R"({"event":"start","index":7,"timeout":3})",
    R"({"event":"start","index":0,"timeout":1e12})",
    R"({"when":"setup","outcome":"passed","category":"","letter":"","word":"","duration":0.0012908219978271518,"start":1796144860.6591775,"stop":1796144860.6604683,"event":"report","index":1})",
    R"({"when":"call","outcome":"passed","category":"passed","letter":".","word":"PASSED","duration":0.0002824670009431429,"start":1796144860.6606534,"stop":1796144860.6609359,"event":"report","index":1})",
    R"({"when":"teardown","outcome":"passed","category":"","letter":"","word":"","duration":2E-4,"start":1796144860,"stop":1796144860.6613398,"event":"report","index":null})",
    R"({"event":"finished","index":1,"resources":{"cpu_s":0.0,"cpu_source":"cgroup","memory_peak_bytes":34484224,"memory_peak_scope":"test","memory_start_bytes":34484224,"pids_started":0}})",
    R"({"event":"finished","index":2,"resources":{"cpu_s":3,"cpu_source":"rusage","memory_peak_bytes":null}})",
    R"({"event":"finished","index":3})",
    R"( { "event" : "finished" , "index" : 4 , "resources" : { } } )",
};

TEST(ProtocolFast, TakesWhatAPassingTestSends) {
  for (const std::string& line : kCommonLines) {
    EXPECT_TRUE(decode_common_event(line).has_value()) << line;
    expect_agrees(line);
  }
  const Event event = decode_event(kCommonLines[1]);
  ASSERT_TRUE(std::holds_alternative<StartEvent>(event));
  EXPECT_EQ(std::get<StartEvent>(event).index, 7u);
  EXPECT_EQ(std::get<StartEvent>(event).timeout_s, 2.5);
  EXPECT_EQ(std::get<StartEvent>(decode_event(kCommonLines[3])).timeout_s, kMaxSeconds);
}

TEST(ProtocolFast, LeavesTheRestToTheGeneralParser) {
  const std::vector<std::string> declined = {
      R"({"event":"done"})",
      R"({"event":"start","index":-1})",           // an error: the parser says it
      R"({"event":"start","index":1.0})",          // not a test index
      R"({"event":"start","index":1,"index":2})",  // the parser keeps the last
      R"({"event":"start","event":"start","index":1})",
      R"({"event":"start","index":1,"timeout":"5"})",
      R"({"event":"start","index":99999999999999999999})",  // beyond 64 bits
      R"({"event":"report","index":1,"when":"call","outcome":"failed","longrepr":"a\nb"})",
      R"({"event":"report","index":1,"when":"call","outcome":"passed","sections":[]})",
      R"({"event":"report","index":1,"when":"call","outcome":"passed","raw":{"a":1}})",
      R"({"event":"report","index":1,"when":"call","outcome":"passed","skip_lineno":3})",
      R"({"event":"report","index":1,"when":"call","outcome":"passed","word":"PASSÉ"})",
      R"({"event":"report","index":1,"outcome":"passed"})",  // no `when`
      R"({"event":"finished","index":1,"resources":{"cpu_s":-1}})",
      R"({"event":"finished","index":1,"resources":{"pids_started":1.5}})",
      R"({"event":"finished","index":1,"resources":[]})",
      R"({"event":"finished","index":1,"other":{"a":1}})",
      R"({"event":"finished","index":1} x)",
      R"({"event":"finished","index":1,})",
      R"({"event":"finished","index":01})",
      R"({"event":"finished","index":1)",
  };
  for (const std::string& line : declined) {
    EXPECT_FALSE(decode_common_event(line).has_value()) << line;
  }
  // Declined lines still decode (or fail) as before, through decode_event.
  EXPECT_TRUE(std::holds_alternative<DoneEvent>(decode_event(declined[0])));
  EXPECT_THROW(decode_event(declined[1]), ProtocolError);
  EXPECT_EQ(std::get<StartEvent>(decode_event(declined[3])).index, 2u);
  EXPECT_THROW(decode_event(declined.back()), ProtocolError);
}

TEST(ProtocolFast, AgreesWithTheGeneralParserOnMutatedLines) {
  std::mt19937 random(14);
  std::size_t taken = 0;
  for (const std::string& seed : kCommonLines) {
    for (int round = 0; round < 3000; ++round) {
      const std::string line = mutated_line(seed, random);
      expect_agrees(line);
      taken += decode_common_event(line).has_value();
    }
  }
  EXPECT_GT(taken, 1000u);  // the mutations kept many lines the fast path takes
}

}  // namespace
}  // namespace bulkhead::protocol

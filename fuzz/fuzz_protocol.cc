// libFuzzer target: the bytes a hostile worker writes to its channel. They are split into
// lines (a small cap, so the overflow path runs too), each decoded and put through the trust
// rules of a worker that collected four tests, was handed three and asked twice to give some
// back; what is admitted is copied and its raw JSON written out, as the supervisor and the
// reports do. ProtocolError is the one expected failure: a crash, a sanitizer report or any
// other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "src/run/channel_guard.h"
#include "src/run/protocol.h"
#include "src/run/protocol_fast.h"

using namespace bulkhead;

namespace {

void use(const protocol::Event& event) {
  const protocol::Event copy = event;  // the supervisor copies records into the run's results
  if (const auto* report = std::get_if<protocol::ReportEvent>(&copy)) {
    (void)report->report.phase.raw.dump();  // the reports write it out
  }
  if (const auto* collected = std::get_if<protocol::CollectedEvent>(&copy)) {
    for (const auto& entry : collected->collect_reports) (void)entry.report.phase.raw.dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const ChannelGuard::Collection collection = {
      {"t.py::a", ""}, {"t.py::b", "db"}, {"t.py::c", ""}, {"t.py::d", ""}};
  ChannelGuard guard;
  protocol::CollectedEvent collected;
  collected.protocol = protocol::kProtocolVersion;
  collected.items = collection;
  if (guard.admit(collected, &collection)) __builtin_trap();
  guard.handed({1, 3, 0});
  guard.asked({{0}, {3}});  // two steals for `released` to answer
  guard.asked({{0, 3}});

  // The first byte sets how the stream is chunked, as reads of a socket would cut it.
  const std::size_t chunk = data[0] % 97 + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  protocol::LineSplitter splitter(4096);
  auto on_line = [&](std::string_view line) {
    if (line.empty()) return;
    // A line the fast path takes is one the general parser decodes too (protocol_fast.h).
    if (protocol::decode_common_event(line)) {
      try {
        (void)protocol::decode_event_generic(line);
      } catch (const protocol::ProtocolError&) {
        __builtin_trap();
      }
    }
    try {
      use(guard.accept(line, &collection));
    } catch (const protocol::ProtocolError&) {
      // refused: the supervisor would kill the worker; go on to reach more code
    }
  };
  try {
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      splitter.feed(stream.substr(at, chunk), on_line);
    }
  } catch (const protocol::ProtocolError&) {
  }
  return 0;
}

// The fast path for the common channel lines (see protocol_fast.h). Every check here errs
// towards "not mine": a line this scanner declines costs only the general parser's time.
#include "src/run/protocol_fast.h"

#include <cstdint>

#include "src/run/flat_json.h"

namespace bulkhead::protocol {
namespace {

using flat_json::Field;
using flat_json::Fields;
using flat_json::Known;
using flat_json::place_all;
using flat_json::real;
using flat_json::scan_fields;
using flat_json::text;
using flat_json::Value;

constexpr std::string_view kEvent = "event";

constexpr std::string_view kStartFields[] = {"index", "timeout"};

std::optional<Event> start(const Fields& fields) {
  Known known(kStartFields);
  if (!place_all(fields, known, false, kEvent)) return std::nullopt;
  const Value* index = known.get(0);
  if (index == nullptr || index->kind != Value::Kind::Unsigned) return std::nullopt;
  StartEvent event{index->whole, std::nullopt};
  if (const Value* timeout = known.get(1)) {
    double seconds = 0;
    if (!real(timeout, seconds)) return std::nullopt;
    event.timeout_s = seconds > kMaxSeconds ? kMaxSeconds : seconds;
  }
  return event;
}

constexpr std::string_view kReportFields[] = {
    "index",    "when",  "outcome",   "category",       "letter",    "word",
    "duration", "start", "stop",      "longrepr",       "message",   "wasxfail",
    "sections", "raw",   "head_line", "longrepr_color", "skip_path", "skip_lineno"};

std::optional<Event> report(const Fields& fields) {
  Known known(kReportFields);
  if (!place_all(fields, known, false, kEvent)) return std::nullopt;
  // Tracebacks, sections, pytest's full report, a skip's location: the general parser's.
  for (const std::size_t rare : {std::size_t{12}, std::size_t{13}, std::size_t{17}}) {
    if (known.get(rare) != nullptr) return std::nullopt;
  }
  ReportEvent event;
  if (const Value* index = known.get(0)) {
    if (index->kind != Value::Kind::Unsigned) return std::nullopt;
    event.index = index->whole;
  }
  PhaseReport& phase = event.report.phase;
  PhaseDisplay& display = event.report.display;
  if (known.get(1) == nullptr || known.get(2) == nullptr) return std::nullopt;  // required
  const bool ok = text(known.get(1), phase.when) && text(known.get(2), phase.outcome) &&
                  text(known.get(3), phase.category) && text(known.get(4), phase.letter) &&
                  text(known.get(5), phase.word) && real(known.get(6), phase.duration) &&
                  real(known.get(7), phase.start) && real(known.get(8), phase.stop) &&
                  text(known.get(9), phase.longrepr) && text(known.get(10), phase.message) &&
                  text(known.get(11), phase.wasxfail) && text(known.get(14), display.head_line) &&
                  text(known.get(15), display.longrepr_color) &&
                  text(known.get(16), display.skip_path);
  if (!ok) return std::nullopt;
  return event;
}

constexpr std::string_view kFinishedFields[] = {"index", "resources"};
std::optional<Event> finished(const Fields& fields) {
  Known known(kFinishedFields);
  if (!place_all(fields, known, true, kEvent)) return std::nullopt;
  for (std::size_t i = 0; i < fields.count; ++i) {  // only `resources` may be an object
    const Field& field = fields.at[i];
    if (field.value.kind == Value::Kind::Object && field.key != kFinishedFields[1]) {
      return std::nullopt;
    }
  }
  const Value* index = known.get(0);
  if (index == nullptr || index->kind != Value::Kind::Unsigned) return std::nullopt;
  FinishedEvent event{index->whole, std::nullopt};
  if (const Value* cost = known.get(1)) {
    if (cost->kind != Value::Kind::Object) return std::nullopt;
    event.resources = flat_json::plain_resources(cost->body);
    if (!event.resources) return std::nullopt;
  }
  return event;
}

}  // namespace

std::optional<Event> decode_common_event(std::string_view line) {
  Fields fields;
  if (!scan_fields(line, fields, true)) return std::nullopt;
  // The event's name: once, a plain string.
  const Value* name = nullptr;
  for (std::size_t i = 0; i < fields.count; ++i) {
    if (fields.at[i].key != kEvent) continue;
    if (name != nullptr) return std::nullopt;
    name = &fields.at[i].value;
  }
  if (name == nullptr || name->kind != Value::Kind::String) return std::nullopt;
  if (name->text == "start") return start(fields);
  if (name->text == "report") return report(fields);
  if (name->text == "finished") return finished(fields);
  return std::nullopt;
}

}  // namespace bulkhead::protocol

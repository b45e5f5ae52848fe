// Decoding worker events from JSON lines and encoding supervisor commands.
#include "src/run/protocol.h"

#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "src/run/json_divert.h"
#include "src/run/protocol_fast.h"

namespace bulkhead::protocol {
namespace {

using nlohmann::json;

constexpr std::size_t kQuoteChars = 120;

// The start of a bad line for an error message. Bytes outside printable ASCII are shown as
// \xNN: the line is a hostile worker's, and the message reaches terminals and XML reports.
std::string quote(std::string_view line) {
  std::string out;
  for (const char c : line.substr(0, kQuoteChars)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
      continue;
    }
    constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  if (line.size() > kQuoteChars) out += "...";
  return out;
}

// Whether `line` nests arrays and objects deeper than `limit` (brackets in strings do not
// count). A linear scan before parsing: the parser itself would accept any depth.
bool nests_deeper_than(std::string_view line, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// Field access with the event name and field in every error.
class Fields {
 public:
  Fields(json& object, std::string event) : object_(object), event_(std::move(event)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    throw ProtocolError("event '" + event_ + "': field '" + key + "': expected " + expected);
  }

  json* find(const std::string& key) {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string string(const std::string& key, bool required = false) {
    json* value = find(key);
    if (value == nullptr) {
      if (required) fail(key, "a string");
      return {};
    }
    if (!value->is_string()) fail(key, "a string, got " + std::string(value->type_name()));
    return std::move(value->get_ref<std::string&>());
  }

  double number(const std::string& key, double fallback = 0) {
    json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_number()) fail(key, "a number, got " + std::string(value->type_name()));
    return value->get<double>();
  }

  std::optional<double> optional_number(const std::string& key) {
    if (find(key) == nullptr) return std::nullopt;
    return number(key);
  }

  // A duration in seconds: large values saturate at kMaxSeconds; zero or less mean none.
  std::optional<double> optional_seconds(const std::string& key) {
    std::optional<double> value = optional_number(key);
    if (value && *value > kMaxSeconds) value = kMaxSeconds;
    return value;
  }

  long integer(const std::string& key, long fallback = 0) {
    json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_number_integer())
      fail(key, "an integer, got " + std::string(value->type_name()));
    return value->get<long>();
  }

  std::size_t count(const std::string& key) {
    json* value = find(key);
    if (value == nullptr) return 0;
    if (!value->is_number_unsigned()) {
      fail(key, "a count (a whole number, 0 or more), got " + std::string(value->type_name()));
    }
    return value->get<std::size_t>();
  }

  std::size_t index(const std::string& key) {
    json* value = find(key);
    if (value == nullptr || !value->is_number_unsigned()) fail(key, "a test index");
    return value->get<std::size_t>();
  }

  bool boolean(const std::string& key, bool fallback = false) {
    json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) fail(key, "true or false, got " + std::string(value->type_name()));
    return value->get<bool>();
  }

  json& array(const std::string& key) {
    json* value = find(key);
    if (value == nullptr || !value->is_array()) fail(key, "an array");
    return *value;
  }

  json& object(const std::string& key) {
    json* value = find(key);
    if (value == nullptr || !value->is_object()) fail(key, "an object");
    return *value;
  }

 private:
  json& object_;
  std::string event_;
};

ReportedPhase decode_phase(json& object, const std::string& event) {
  Fields fields(object, event);
  ReportedPhase out;
  PhaseReport& phase = out.phase;
  phase.when = fields.string("when", true);
  phase.outcome = fields.string("outcome", true);
  phase.category = fields.string("category");
  phase.letter = fields.string("letter");
  phase.word = fields.string("word");
  phase.duration = fields.number("duration");
  phase.start = fields.number("start");
  phase.stop = fields.number("stop");
  phase.longrepr = fields.string("longrepr");
  phase.message = fields.string("message");
  phase.wasxfail = fields.string("wasxfail");
  if (json* sections = fields.find("sections")) {
    if (!sections->is_array()) fields.fail("sections", "an array of [title, text]");
    for (json& section : *sections) {
      if (!section.is_array() || section.size() != 2 || !section[0].is_string() ||
          !section[1].is_string()) {
        fields.fail("sections", "an array of [title, text]");
      }
      phase.sections.emplace_back(std::move(section[0].get_ref<std::string&>()),
                                  std::move(section[1].get_ref<std::string&>()));
    }
  }
  if (json* raw = fields.find("raw")) phase.raw = std::move(*raw);
  out.display.head_line = fields.string("head_line");
  out.display.longrepr_color = fields.string("longrepr_color");
  out.display.skip_path = fields.string("skip_path");
  if (fields.find("skip_lineno") != nullptr)
    out.display.skip_lineno = fields.integer("skip_lineno");
  return out;
}

std::vector<std::string> string_list(Fields& fields, const std::string& key) {
  std::vector<std::string> out;
  json* value = fields.find(key);
  if (value == nullptr) return out;
  if (!value->is_array()) fields.fail(key, "an array of strings");
  for (json& entry : *value) {
    if (!entry.is_string()) fields.fail(key, "an array of strings");
    out.push_back(std::move(entry.get_ref<std::string&>()));
  }
  return out;
}

// How many items a `collected` line holds, at most: its "nodeid" keys (sizes the vector once).
std::size_t count_items(std::string_view line) {
  constexpr std::string_view kKey = "\"nodeid\"";
  std::size_t count = 0;
  for (std::size_t at = line.find(kKey); at != std::string_view::npos;
       at = line.find(kKey, at + kKey.size())) {
    ++count;
  }
  return count;
}

// One element of `collected.items`, decoded as the line is parsed (decode_event).
CollectedItem decode_item(json& entry) {
  if (!entry.is_object()) Fields(entry, "collected").fail("items", "objects with a nodeid");
  Fields item(entry, "collected item");
  return {item.string("nodeid", true), item.string("group")};
}

// `items`: the line's top-level items, decoded while it was parsed (its array in `object` is
// left empty).
CollectedEvent decode_collected(json& object, std::vector<CollectedItem>& items) {
  Fields fields(object, "collected");
  CollectedEvent event;
  event.protocol = static_cast<int>(fields.integer("protocol"));
  event.pid = fields.integer("pid");
  fields.array("items");  // present and an array
  event.items = std::move(items);
  event.deselected = fields.count("deselected");
  if (fields.find("collect_reports") != nullptr) {
    for (json& entry : fields.array("collect_reports")) {
      if (!entry.is_object()) fields.fail("collect_reports", "objects");
      CollectReport report;
      report.nodeid = Fields(entry, "collect report").string("nodeid");
      report.report = decode_phase(entry, "collect report");
      event.collect_reports.push_back(std::move(report));
    }
  }
  Fields settings(fields.object("settings"), "collected.settings");
  WorkerSettings& out = event.settings;
  out.tbstyle = settings.string("tbstyle");
  out.showcapture = settings.string("showcapture");
  out.reportchars = settings.string("reportchars");
  out.verbose = static_cast<int>(settings.integer("verbose"));
  out.maxfail = static_cast<int>(settings.integer("maxfail"));
  out.capture = settings.string("capture");
  out.continue_on_collection_errors = settings.boolean("continue_on_collection_errors");
  out.color = settings.boolean("color");
  out.rootdir = settings.string("rootdir");
  out.ini_timeout = settings.string("ini_timeout");
  out.python_version = settings.string("python");
  out.pytest_version = settings.string("pytest");
  event.header_lines = string_list(fields, "header");
  event.collection_lines = string_list(fields, "collection_lines");
  if (json* cache = fields.find("cache")) {
    if (!cache->is_object()) fields.fail("cache", "an object");
    Fields facts(*cache, "collected.cache");
    PytestCacheFacts& out_cache = event.cache.emplace();
    out_cache.dir = facts.string("dir", true);
    if (json* lastfailed = facts.find("lastfailed")) {
      if (!lastfailed->is_object()) facts.fail("lastfailed", "an object");
      out_cache.lastfailed = std::move(*lastfailed);
    }
    out_cache.collect_only = facts.boolean("collectonly");
    out_cache.stepwise = facts.boolean("stepwise");
  }
  return event;
}

// A `finished` event's `resources` (bulkhead_resources.py): numbers of the right kind, each
// optional; anything else there is a protocol error.
TestResources decode_resources(json& object) {
  Fields fields(object, "finished.resources");
  TestResources out;
  out.cpu_s = fields.optional_number("cpu_s");
  if (out.cpu_s && *out.cpu_s < 0) fields.fail("cpu_s", "seconds, 0 or more");
  out.cpu_source = fields.string("cpu_source");
  const auto bytes = [&](const char* key) -> std::optional<std::uint64_t> {
    if (fields.find(key) == nullptr) return std::nullopt;
    return fields.count(key);
  };
  out.memory_peak_bytes = bytes("memory_peak_bytes");
  out.memory_start_bytes = bytes("memory_start_bytes");
  out.memory_peak_scope = fields.string("memory_peak_scope");
  out.pids_started = bytes("pids_started");
  return out;
}

Event decode_object(json& object, std::vector<CollectedItem>& items) {
  Fields fields(object, "?");
  const std::string kind = fields.string("event", true);
  Fields typed(object, kind);
  if (kind == "collected") return decode_collected(object, items);
  if (kind == "start") return StartEvent{typed.index("index"), typed.optional_seconds("timeout")};
  if (kind == "timeout") {
    return TimeoutEvent{typed.index("index"), typed.optional_seconds("seconds").value_or(0)};
  }
  if (kind == "report") {
    ReportEvent event;
    if (typed.find("index") != nullptr) event.index = typed.index("index");
    event.report = decode_phase(object, kind);
    return event;
  }
  if (kind == "finished") {
    FinishedEvent event{typed.index("index"), std::nullopt};
    if (typed.find("resources") != nullptr) {
      event.resources = decode_resources(typed.object("resources"));
    }
    return event;
  }
  if (kind == "warning") {
    return WarningEvent{typed.string("when"), typed.string("nodeid"), typed.string("message")};
  }
  if (kind == "internal_error") return InternalErrorEvent{typed.string("text")};
  if (kind == "done") return DoneEvent{};
  if (kind == "released") {
    ReleasedEvent event;
    for (const json& index : typed.array("indices")) {
      if (!index.is_number_unsigned()) typed.fail("indices", "an array of test indices");
      event.indices.push_back(index.get<std::size_t>());
    }
    return event;
  }
  if (kind == "need_controller") {
    return NeedControllerEvent{string_list(typed, "reasons"), typed.boolean("wait")};
  }
  if (kind == "workeroutput") return WorkerOutputEvent{};
  throw ProtocolError("unknown event '" + kind + "'");
}

}  // namespace

Event decode_event(std::string_view line) {
  if (std::optional<Event> common = decode_common_event(line)) return std::move(*common);
  return decode_event_generic(line);
}

Event decode_event_generic(std::string_view line) {
  if (nests_deeper_than(line, kMaxJsonDepth)) {
    throw ProtocolError("JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                        " levels: " + quote(line));
  }
  // Errors from decoding name the line.
  const auto in_line = [&line](auto&& step) {
    try {
      return step();
    } catch (const ProtocolError& error) {
      throw ProtocolError(std::string(error.what()) + ": " + quote(line));
    } catch (const json::exception& error) {
      throw ProtocolError(std::string(error.what()) + ": " + quote(line));
    }
  };
  // `collected` lists every test in `items`: each is decoded as it is parsed, so the line's
  // DOM never holds them all (json_divert.h).
  json object;
  std::vector<CollectedItem> items;
  const bool parsed = in_line([&] {
    return parse_diverting(line, "items", object, [&](json& entry) {
      if (items.empty()) items.reserve(count_items(line));
      items.push_back(decode_item(entry));
    });
  });
  if (!parsed) throw ProtocolError("malformed JSON line: " + quote(line));
  if (!object.is_object()) throw ProtocolError("expected a JSON object: " + quote(line));
  return in_line([&] { return decode_object(object, items); });
}

std::size_t event_line_cap(std::uint64_t output_cap_bytes) {
  constexpr std::uint64_t kBase = std::uint64_t{16} << 20;
  const std::uint64_t limit = std::numeric_limits<std::size_t>::max();
  if (output_cap_bytes > (limit - kBase) / 8) return static_cast<std::size_t>(limit);
  return static_cast<std::size_t>(kBase + 8 * output_cap_bytes);
}

void LineSplitter::overflow() {
  const std::size_t cap = max_line_;
  overflowed_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
  scan_from_ = 0;
  char mebibytes[32];
  std::snprintf(mebibytes, sizeof mebibytes, "%.1f", static_cast<double>(cap) / (1 << 20));
  throw ProtocolError("a line longer than " + std::to_string(cap) + " bytes (" + mebibytes +
                      " MiB, the channel's limit)");
}

std::string encode_run(const std::vector<std::size_t>& indices) {
  std::string line = R"({"cmd":"run","indices":[)";
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (i > 0) line += ',';
    line += std::to_string(indices[i]);
  }
  line += "]}\n";
  return line;
}

std::string encode_shutdown() { return "{\"cmd\":\"shutdown\"}\n"; }
std::string encode_stop() { return "{\"cmd\":\"stop\"}\n"; }
std::string encode_go() { return "{\"cmd\":\"go\"}\n"; }

std::string encode_steal(const std::vector<std::vector<std::size_t>>& units) {
  std::string line = R"({"cmd":"steal","units":[)";
  for (std::size_t u = 0; u < units.size(); ++u) {
    if (u > 0) line += ',';
    line += '[';
    for (std::size_t i = 0; i < units[u].size(); ++i) {
      if (i > 0) line += ',';
      line += std::to_string(units[u][i]);
    }
    line += ']';
  }
  line += "]}\n";
  return line;
}

std::string encode_workerinput(std::string_view data_json) {
  std::string line = R"({"cmd":"workerinput","data":)";
  line.append(data_json);
  line += "}\n";
  return line;
}

}  // namespace bulkhead::protocol

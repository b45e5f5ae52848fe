// JUnit XML (pytest 7's xunit2 family) from TestRecords, with pugixml: one <testsuite>, one
// <testcase> per test, our causes as typed failures/errors, output made XML-safe.
#include "src/report/junit.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <ctime>
#include <functional>
#include <pugixml.hpp>
#include <stdexcept>
#include <string_view>

#include "src/report/atomic_file.h"
#include "src/report/outcome.h"

namespace bulkhead {

namespace {

void append_escape(std::string& out, unsigned code) {
  char buf[16];
  std::snprintf(buf, sizeof buf, code <= 0xFF ? "#x%02X" : "#x%04X", code);
  out += buf;
}

// Length of the valid UTF-8 sequence at s[i] encoding a character XML 1.0 allows, or 0 when
// the bytes there must be escaped (then `code` is the character or the lone byte).
std::size_t xml_char_length(std::string_view s, std::size_t i, unsigned& code) {
  const unsigned b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {  // the common case
    code = b;
    return (b >= 0x20 && b != 0x7F) || b == '\t' || b == '\n' || b == '\r';
  }
  char32_t c = 0;
  const std::size_t len = utf8_decode(s, i, c);
  code = len == 0 ? b : static_cast<unsigned>(c);
  return c == 0xFFFE || c == 0xFFFF ? 0 : len;
}

// Text XML 1.0 can carry: as pytest's bin_xml_escape does, a character XML forbids (control
// characters, DEL, U+FFFE/FFFF) becomes "#xHH" or "#xHHHH"; so does each byte of invalid
// UTF-8. Returns `text` itself when it needs no change, else `buf` filled.
const char* xml_safe(const std::string& text, std::string& buf) {
  std::size_t i = 0;
  unsigned code = 0;
  std::size_t len = 0;
  while (i < text.size() && (len = xml_char_length(text, i, code)) != 0) i += len;
  if (i == text.size()) return text.c_str();
  buf.assign(text, 0, i);
  while (i < text.size()) {
    len = xml_char_length(text, i, code);
    if (len == 0) {
      append_escape(buf, code);
      // A rejected U+FFFE/FFFF is 3 bytes; anything else escapes one byte at a time.
      i += code >= 0x100 ? 3 : 1;
    } else {
      buf.append(text, i, len);
      i += len;
    }
  }
  return buf.c_str();
}

// Sets attribute `name` to a safe copy of `value`.
void set_attr(pugi::xml_node node, const char* name, const std::string& value, std::string& buf) {
  node.append_attribute(name).set_value(xml_safe(value, buf));
}

void set_text(pugi::xml_node node, const std::string& value, std::string& buf) {
  if (!value.empty()) node.append_child(pugi::node_pcdata).set_value(xml_safe(value, buf));
}

std::string format_seconds(double seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", seconds);
  return buf;
}

// Python's datetime.fromtimestamp(t).isoformat(): local time, microseconds only when nonzero.
std::string iso_timestamp(double unix_time) {
  const auto whole = static_cast<std::time_t>(unix_time);
  long micros = std::lround((unix_time - static_cast<double>(whole)) * 1e6);
  std::time_t secs = whole;
  if (micros >= 1000000) {
    ++secs;
    micros -= 1000000;
  }
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (micros > 0) std::snprintf(buf + n, sizeof buf - n, ".%06ld", micros);
  return buf;
}

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// pytest's mangle_test_address: split off the parametrization at the first '[', split the rest
// on "::", turn the file path into a dotted name without ".py", put the parameters back.
// classname is all names but the last, joined by '.'; name is the last.
void junit_names(const std::string& nodeid, std::string& classname, std::string& name) {
  std::string_view id = nodeid;
  const std::size_t bracket = id.find('[');
  const std::string_view params = bracket == std::string_view::npos ? "" : id.substr(bracket);
  std::string_view path = id.substr(0, bracket);
  classname.clear();
  std::size_t sep = path.find("::");
  std::string first(path.substr(0, sep));
  for (char& c : first) {
    if (c == '/') c = '.';
  }
  if (first.size() >= 3 && first.compare(first.size() - 3, 3, ".py") == 0)
    first.resize(first.size() - 3);
  if (sep == std::string_view::npos) {
    name = first;
  } else {
    classname = first;
    path.remove_prefix(sep + 2);
    while ((sep = path.find("::")) != std::string_view::npos) {
      classname += '.';
      classname += path.substr(0, sep);
      path.remove_prefix(sep + 2);
    }
    name = path;
  }
  name += params;
}

// The one-line reason of a failed phase: the worker's message, else the first line of longrepr.
std::string failure_reason(const PhaseReport& phase) {
  if (!phase.message.empty()) return phase.message;
  const nlohmann::json& raw = phase.raw;
  if (raw.is_object()) {
    auto lr = raw.find("longrepr");
    if (lr != raw.end() && lr->is_object()) {
      auto crash = lr->find("reprcrash");
      if (crash != lr->end() && crash->is_object() && crash->contains("message") &&
          (*crash)["message"].is_string()) {
        return (*crash)["message"].get<std::string>();
      }
    }
  }
  return phase.longrepr.substr(0, phase.longrepr.find('\n'));
}

std::string strip_prefix(std::string text, std::string_view prefix) {
  if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
  return text;
}

// Python's str.center(80, '-').
std::string centered(std::string_view title) {
  constexpr std::size_t width = 80;
  if (title.size() >= width) return std::string(title);
  const std::size_t margin = width - title.size();
  const std::size_t left = margin / 2 + (margin & width & 1);
  return std::string(left, '-') + std::string(title) + std::string(margin - left, '-');
}

struct CaseCounts {
  std::size_t tests = 0;  // as pytest counts them: see JunitBuilder::add
  std::size_t failures = 0;
  std::size_t errors = 0;
  std::size_t skipped = 0;
};

class JunitBuilder {
 public:
  explicit JunitBuilder(pugi::xml_node suite) : suite_(suite) {}

  void add(const TestRecord& test) {
    pugi::xml_node tc = suite_.append_child("testcase");
    junit_names(test.nodeid, classname_, name_);
    set_attr(tc, "classname", classname_, buf_);
    set_attr(tc, "name", name_, buf_);
    double time = 0;
    for (const PhaseReport& phase : test.phases) time += phase.duration;
    tc.append_attribute("time").set_value(format_seconds(time).c_str());
    add_properties(tc, test);

    has_failure_ = has_error_ = has_skipped_ = false;
    const std::optional<std::size_t> cause_phase = cause_phase_index(test);
    for (std::size_t i = 0; i < test.phases.size(); ++i) {
      if (cause_phase && i == *cause_phase) {
        add_cause(tc, test, test.phases[i].when, test.phases[i].longrepr);
      } else {
        add_phase(tc, test.phases[i]);
      }
    }
    if (is_interrupting(test.cause) && !cause_phase) {
      add_cause(tc, test, interrupted_when(test), test.cause_message);
    }
    if (test.cause == Cause::NotRun) {
      pugi::xml_node node = tc.append_child("skipped");
      node.append_attribute("type").set_value("notrun");
      set_attr(node, "message", test.cause_message.empty() ? "not run" : test.cause_message, buf_);
      has_skipped_ = true;
    }
    add_attempts(tc, test);
    add_output(tc, test);
    // pytest's `tests` counts reported outcomes, not testcases: a test whose call passed (or
    // that was skipped) and whose teardown then errored counts twice; a failed call followed by
    // a teardown error counts once (its cnt_double_fail_tests). Only for what pytest itself
    // reported: a test our supervisor ended (crash, timeout, OOM) counts once.
    bool passed_or_skipped = false, teardown_failed = false;
    for (const PhaseReport& phase : test.phases) {
      passed_or_skipped |=
          (phase.when == "call" && phase.outcome == "passed") || phase.outcome == "skipped";
      teardown_failed |= phase.when == "teardown" && phase.outcome == "failed";
    }
    counts_.tests += 1 + (test.cause == Cause::None && passed_or_skipped && teardown_failed);
    counts_.failures += has_failure_;
    counts_.errors += has_error_;
    counts_.skipped += has_skipped_;
  }

  const CaseCounts& counts() const { return counts_; }

 private:
  void add_properties(pugi::xml_node tc, const TestRecord& test) {
    pugi::xml_node props;
    const auto add = [&](const std::string& name, const std::string& value) {
      if (!props) props = tc.append_child("properties");
      pugi::xml_node prop = props.append_child("property");
      set_attr(prop, "name", name, buf_);
      set_attr(prop, "value", value, buf_);
    };
    if (!test.worker.empty()) add("worker", test.worker);
    if (!test.verdict.empty()) add("bulkhead_verdict", test.verdict);
    if (test.resources) add_resources(add, *test.resources);
    // record_property() values; pytest repeats them in every phase, the last has them all.
    for (auto phase = test.phases.rbegin(); phase != test.phases.rend(); ++phase) {
      if (!phase->raw.is_object()) continue;
      auto up = phase->raw.find("user_properties");
      if (up == phase->raw.end() || !up->is_array() || up->empty()) continue;
      for (const nlohmann::json& pair : *up) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string()) continue;
        add(pair[0].get<std::string>(),
            pair[1].is_string()
                ? pair[1].get<std::string>()
                : pair[1].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
      break;
    }
  }

  // What the test cost (docs/reports.md, "Resources"), the unit in each name.
  template <typename Add>
  static void add_resources(const Add& add, const TestResources& r) {
    if (r.cpu_s) add("bulkhead_cpu_seconds", format_seconds(*r.cpu_s));
    if (r.memory_peak_bytes) {
      add("bulkhead_memory_peak_bytes", std::to_string(*r.memory_peak_bytes));
      add("bulkhead_memory_peak_scope", r.memory_peak_scope);
    }
    if (r.memory_start_bytes) {
      add("bulkhead_memory_start_bytes", std::to_string(*r.memory_start_bytes));
    }
    if (r.pids_started) add("bulkhead_pids_started", std::to_string(*r.pids_started));
  }

  // --retries, in nextest's (and Maven Surefire's) convention: each failed attempt of a test
  // that passed in the end is a <flakyFailure>, of one that failed a <rerunFailure>; the
  // attempt's traceback in <stackTrace>.
  void add_attempts(pugi::xml_node tc, const TestRecord& test) {
    const bool passed = !has_failure_ && !has_error_;
    for (const RetryAttempt& attempt : test.attempts) {
      if (attempt.outcome != "failed" && attempt.outcome != "error" &&
          attempt.cause != Cause::NotRun) {
        continue;
      }
      const PhaseReport* failed = nullptr;
      for (const PhaseReport& phase : attempt.phases) {
        if (phase.outcome == "failed" && failed == nullptr) failed = &phase;
      }
      pugi::xml_node node = tc.append_child(passed ? "flakyFailure" : "rerunFailure");
      set_attr(node, "message", failed ? failure_reason(*failed) : attempt.cause_message, buf_);
      set_attr(node, "type", attempt.kind, buf_);
      set_text(node.append_child("stackTrace"), failed ? failed->longrepr : attempt.cause_message,
               buf_);
    }
  }

  void add_phase(pugi::xml_node tc, const PhaseReport& phase) {
    if (phase.outcome == "failed") {
      const bool in_call = phase.when == "call";
      pugi::xml_node node = tc.append_child(in_call ? "failure" : "error");
      std::string reason = failure_reason(phase);
      if (!in_call) reason = "failed on " + phase.when + " with \"" + reason + "\"";
      set_attr(node, "message", reason, buf_);
      set_text(node, phase.longrepr, buf_);
      (in_call ? has_failure_ : has_error_) = true;
    } else if (phase.outcome == "skipped") {
      pugi::xml_node node = tc.append_child("skipped");
      if (!phase.wasxfail.empty()) {
        node.append_attribute("type").set_value("pytest.xfail");
        set_attr(node, "message", strip_prefix(phase.wasxfail, "reason: "), buf_);
      } else {
        node.append_attribute("type").set_value("pytest.skip");
        std::string reason;
        std::string details;
        skip_reason(phase, reason, details);
        set_attr(node, "message", reason, buf_);
        set_text(node, details, buf_);
      }
      has_skipped_ = true;
    }
  }

  // pytest serialises a skip's longrepr as [path, line, "Skipped: reason"].
  static void skip_reason(const PhaseReport& phase, std::string& reason, std::string& details) {
    const nlohmann::json& raw = phase.raw;
    if (raw.is_object()) {
      auto lr = raw.find("longrepr");
      if (lr != raw.end() && lr->is_array() && lr->size() == 3 && (*lr)[0].is_string() &&
          (*lr)[2].is_string()) {
        reason = strip_prefix((*lr)[2].get<std::string>(), "Skipped: ");
        const std::string line = (*lr)[1].is_number() ? (*lr)[1].dump() : "";
        details = (*lr)[0].get<std::string>() + ":" + line + ": " + reason;
        return;
      }
    }
    reason = strip_prefix(phase.message.empty() ? phase.longrepr : phase.message, "Skipped: ");
    details = phase.longrepr;
  }

  void add_cause(pugi::xml_node tc, const TestRecord& test, const std::string& when,
                 const std::string& text) {
    const bool in_call = when == "call";
    pugi::xml_node node = tc.append_child(in_call ? "failure" : "error");
    node.append_attribute("type").set_value(cause_name(test.cause));
    std::string message = test.cause_message;
    if (message.empty()) {
      message = test.cause == Cause::Timeout ? "test timed out"
                : test.cause == Cause::OOM   ? "killed by the OOM killer"
                                             : "worker crashed";
    }
    if (!in_call) message += " (during " + when + ")";
    set_attr(node, "message", message, buf_);
    set_text(node, text, buf_);
    (in_call ? has_failure_ : has_error_) = true;
  }

  // Like pytest with junit_logging=all: captured log, then stdout, in <system-out>; stderr in
  // <system-err>; a block only when there is something in it.
  void add_output(pugi::xml_node tc, const TestRecord& test) {
    std::string log;
    std::string out;
    std::string err;
    for (const auto& [title, content] : merged_sections(test)) {
      std::string_view t = title;
      if (t.starts_with("Captured log"))
        log += content;
      else if (t.starts_with("Captured stdout"))
        out += content;
      else if (t.starts_with("Captured stderr"))
        err += content;
    }
    std::string text;
    if (!log.empty()) text += centered(" Captured Log ") + "\n" + log + "\n";
    if (!out.empty()) text += centered(" Captured Out ") + "\n" + out + "\n";
    if (!text.empty()) set_text(tc.append_child("system-out"), text, buf_);
    if (!err.empty()) {
      set_text(tc.append_child("system-err"), centered(" Captured Err ") + "\n" + err + "\n", buf_);
    }
  }

  pugi::xml_node suite_;
  CaseCounts counts_;
  bool has_failure_ = false;
  bool has_error_ = false;
  bool has_skipped_ = false;
  std::string classname_;  // reused buffers
  std::string name_;
  std::string buf_;
};

struct StringWriter : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
};

}  // namespace

namespace {

struct SinkWriter : pugi::xml_writer {
  explicit SinkWriter(const std::function<void(std::string_view)>& sink) : sink_(sink) {}
  void write(const void* data, std::size_t size) override {
    sink_(std::string_view(static_cast<const char*>(data), size));
  }
  const std::function<void(std::string_view)>& sink_;
};

constexpr unsigned kFormat = pugi::format_indent | pugi::format_no_declaration;
constexpr const char* kCasesMarker = "bulkhead: the testcases";

// The document around the testcases: declaration, <testsuites>, <testsuite> with the counts;
// with `marker`, a comment where the testcases go.
pugi::xml_document skeleton(const CaseCounts& counts, const RunInfo& run, bool marker) {
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version").set_value("1.0");
  decl.append_attribute("encoding").set_value("utf-8");
  pugi::xml_node suite = doc.append_child("testsuites").append_child("testsuite");
  suite.append_attribute("name").set_value("pytest");
  suite.append_attribute("errors").set_value(counts.errors);
  suite.append_attribute("failures").set_value(counts.failures);
  suite.append_attribute("skipped").set_value(counts.skipped);
  suite.append_attribute("tests").set_value(counts.tests);
  suite.append_attribute("time").set_value(format_seconds(run.duration).c_str());
  suite.append_attribute("timestamp").set_value(iso_timestamp(run.start_time).c_str());
  std::string buf;
  set_attr(suite, "hostname", host_name(), buf);
  if (marker) suite.append_child(pugi::node_comment).set_value(kCasesMarker);
  return doc;
}

// The whole document to `sink`, one testcase built at a time: a first pass counts (the
// counts head the document), a second writes each case as pugixml would have in one DOM.
void emit_junit(const ResultStore& tests, const RunInfo& run,
                const std::function<void(std::string_view)>& sink) {
  pugi::xml_document scratch;
  pugi::xml_node scratch_suite = scratch.append_child("testsuite");
  JunitBuilder counter(scratch_suite);
  tests.for_each([&](const TestRecord& test) {
    counter.add(test);
    scratch_suite.remove_child(scratch_suite.last_child());
  });
  SinkWriter writer(sink);
  if (tests.empty()) {  // pugixml closes an empty <testsuite/> in place
    skeleton(counter.counts(), run, false).save(writer, "  ", kFormat, pugi::encoding_utf8);
    return;
  }
  std::string around;
  StringWriter text;
  skeleton(counter.counts(), run, true).save(text, "  ", kFormat, pugi::encoding_utf8);
  const std::string marker_line = std::string("    <!--") + kCasesMarker + "-->\n";
  const std::size_t at = text.out.find(marker_line);
  if (at == std::string::npos) throw std::logic_error("junit: the skeleton lost its marker");
  sink(std::string_view(text.out).substr(0, at));
  JunitBuilder builder(scratch_suite);
  tests.for_each([&](const TestRecord& test) {
    builder.add(test);
    const pugi::xml_node tc = scratch_suite.last_child();
    tc.print(writer, "  ", kFormat, pugi::encoding_utf8, 2);
    scratch_suite.remove_child(tc);
  });
  sink(std::string_view(text.out).substr(at + marker_line.size()));
}

}  // namespace

std::string render_junit_xml(const ResultStore& tests, const RunInfo& run) {
  std::string out;
  out.reserve(tests.size() * 256);
  emit_junit(tests, run, [&out](std::string_view text) { out += text; });
  return out;
}

std::string render_junit_xml(const std::vector<TestRecord>& tests, const RunInfo& run) {
  return render_junit_xml(ResultStore::from(tests), run);
}

void write_junit_xml(const std::string& path, const ResultStore& tests, const RunInfo& run) {
  AtomicFile file(path);
  emit_junit(tests, run, [&file](std::string_view text) { file.write(text); });
  file.commit();
}

void write_junit_xml(const std::string& path, const std::vector<TestRecord>& tests,
                     const RunInfo& run) {
  write_junit_xml(path, ResultStore::from(tests), run);
}

}  // namespace bulkhead

// The JSON report (schema in docs/reports.md): the run's settings, pytest-style counts, and
// every test once with its phases, worker, times and cause. One emitter describes the document;
// it drives either an nlohmann::json builder or, on the hot path, a direct text writer.
#include "src/report/json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "src/report/atomic_file.h"
#include "src/report/leaks.h"
#include "src/report/outcome.h"

namespace bulkhead {

namespace {

using nlohmann::json;

constexpr std::size_t kDrainAt = 64 * 1024;  // text kept before it goes to the writer

// `s` with each byte of invalid UTF-8 replaced by U+FFFD, so the document always dumps.
std::string valid_utf8(std::string_view s) {
  std::string out;
  char32_t code = 0;
  std::size_t i = 0;
  std::size_t len = 0;
  while (i < s.size() && (len = utf8_decode(s, i, code)) != 0) i += len;
  if (i == s.size()) return std::string(s);
  out.assign(s.substr(0, i));
  while (i < s.size()) {
    len = utf8_decode(s, i, code);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  return out;
}

// Builds an nlohmann::json document from emitter calls.
class DomSink {
 public:
  void begin_object() { open(json::object()); }
  void begin_array() { open(json::array()); }
  void end() { stack_.pop_back(); }
  void key(const char* name) { key_ = name; }
  void value(std::string_view v) { put(json(valid_utf8(v))); }
  void value(double v) { put(json(v)); }
  void value(std::int64_t v) { put(json(v)); }
  void value(std::uint64_t v) { put(json(v)); }
  json take() { return std::move(root_); }

 private:
  json* put(json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    return &(top[key_] = std::move(v));
  }
  void open(json v) { stack_.push_back(put(std::move(v))); }

  json root_;
  std::vector<json*> stack_;
  const char* key_ = "";
};

// Writes compact JSON text straight into a string. Invalid UTF-8 becomes U+FFFD; a
// non-finite number becomes null (as nlohmann does).
class TextSink {
 public:
  explicit TextSink(std::string& out) : out_(out) {}
  void begin_object() { open('{'); }
  void begin_array() { open('['); }
  void end() {
    // Values leave a trailing comma; the closer replaces it (or follows an empty container).
    if (out_.back() == ',') {
      out_.back() = closer_.back();
    } else {
      out_ += closer_.back();
    }
    closer_.pop_back();
    out_ += ',';
  }
  void key(const char* name) {
    string(name);
    out_ += ':';
  }
  void value(std::string_view v) {
    string(v);
    out_ += ',';
  }
  void value(double v) {
    if (!std::isfinite(v)) {
      out_ += "null,";
      return;
    }
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    std::string_view text(buf, static_cast<std::size_t>(end - buf));
    out_ += text;
    if (text.find_first_of(".e") == std::string_view::npos) out_ += ".0";  // stays a float
    out_ += ',';
  }
  void value(std::int64_t v) { integer(v); }
  void value(std::uint64_t v) { integer(v); }
  // Drops the comma after the last value.
  void finish() {
    if (!out_.empty() && out_.back() == ',') out_.pop_back();
  }
  // Past `threshold` bytes, hands all but the last character (which end() may rewrite) to
  // `write` and keeps only that one.
  template <typename Write>
  void drain(std::size_t threshold, Write&& write) {
    if (out_.size() <= threshold) return;
    write(std::string_view(out_).substr(0, out_.size() - 1));
    out_.erase(0, out_.size() - 1);
  }

 private:
  void open(char c) {
    out_ += c;
    closer_.push_back(c == '{' ? '}' : ']');
  }
  template <typename T>
  void integer(T v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
    out_ += ',';
  }
  void string(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    std::size_t run = 0;  // start of the stretch copied verbatim
    std::size_t i = 0;
    while (i < s.size()) {
      const auto b = static_cast<unsigned char>(s[i]);
      if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
        ++i;
        continue;
      }
      char32_t code = 0;
      const std::size_t len = b < 0x80 ? 1 : utf8_decode(s, i, code);
      if (len > 1) {  // valid multi-byte UTF-8: verbatim
        i += len;
        continue;
      }
      out_.append(s, run, i - run);
      if (len == 0) {
        out_ += "\xEF\xBF\xBD";
      } else if (b == '"' || b == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(b);
      } else if (b == '\n') {
        out_ += "\\n";
      } else if (b == '\t') {
        out_ += "\\t";
      } else if (b == '\r') {
        out_ += "\\r";
      } else {
        out_ += "\\u00";
        out_ += kHex[b >> 4];
        out_ += kHex[b & 0xF];
      }
      run = ++i;
    }
    out_.append(s, run, s.size() - run);
    out_ += '"';
  }

  std::string& out_;
  std::string closer_;
};

// The document, described once for both sinks.
template <typename Sink>
class Emitter {
 public:
  explicit Emitter(Sink& sink) : s_(sink) {}

  // `after_test`: called after each test's object (the file writer drains its text there).
  void report(const ResultStore& tests, const RunInfo& run,
              const std::function<void()>& after_test = {}) {
    s_.begin_object();
    s_.key("run");
    run_info(run);
    if (!run.shards.empty()) {
      s_.key("shards");
      s_.begin_array();
      for (const ShardSummary& shard : run.shards) shard_summary(shard);
      s_.end();
    }
    s_.key("summary");
    OutcomeCounts counts;
    tests.for_each([&counts](const TestRecord& test) { count_outcome(counts, test); });
    summary(counts);
    s_.key("tests");
    s_.begin_array();
    tests.for_each([&](const TestRecord& test) {
      record(test);
      if (after_test) after_test();
    });
    s_.end();
    s_.end();
  }

 private:
  void field(const char* key, std::string_view v) {
    s_.key(key);
    s_.value(v);
  }
  void field(const char* key, double v) {
    s_.key(key);
    s_.value(v);
  }
  void field(const char* key, std::int64_t v) {
    s_.key(key);
    s_.value(v);
  }
  void field(const char* key, std::size_t v) {
    s_.key(key);
    s_.value(static_cast<std::uint64_t>(v));
  }
  void strings(const char* key, const std::vector<std::string>& list) {
    s_.key(key);
    s_.begin_array();
    for (const std::string& item : list) s_.value(std::string_view(item));
    s_.end();
  }

  void run_info(const RunInfo& run) {
    s_.begin_object();
    field("run_id", run.run_id);
    field("profile", run.profile);
    field("cgroup_mode", run.cgroup_mode);
    field("workers", std::int64_t{run.workers});
    field("python", run.python);
    field("python_version", run.python_version);
    field("pytest_version", run.pytest_version);
    field("rootdir", run.rootdir);
    strings("pytest_args", run.pytest_args);
    field("start_time", run.start_time);
    field("duration", run.duration);
    field("exit_code", std::int64_t{run.exit_code});
    strings("isolation_missing", run.isolation_missing);
    if (run.shard) shard_assignment(*run.shard);
    s_.end();
  }

  // run.shard: which shard this run was, and the whole split (1-based shard numbers).
  void shard_assignment(const ShardAssignment& shard) {
    s_.key("shard");
    s_.begin_object();
    field("index", std::int64_t{shard.index + 1});
    field("total", std::int64_t{shard.total});
    field("provider", shard.provider);
    field("found", shard.found);
    field("digest", shard.digest);
    field("durations", shard.durations);
    s_.key("expected_s");
    s_.begin_array();
    for (double seconds : shard.expected_s) s_.value(seconds);
    s_.end();
    strings("collection", shard.collection);
    s_.key("shard_of");
    s_.begin_array();
    for (int s : shard.shard_of) s_.value(std::int64_t{s + 1});
    s_.end();
    s_.end();
  }

  void shard_summary(const ShardSummary& shard) {
    s_.begin_object();
    field("index", std::int64_t{shard.index});
    field("total", std::int64_t{shard.total});
    field("source", shard.source);
    field("file", shard.file);
    field("run_id", shard.run_id);
    field("tests", shard.tests);
    field("exit_code", std::int64_t{shard.exit_code});
    field("start_time", shard.start_time);
    field("duration", shard.duration);
    field("problem", shard.problem);
    s_.end();
  }

  void summary(const OutcomeCounts& c) {
    s_.begin_object();
    field("tests", c.tests);
    field("passed", c.passed);
    field("failed", c.failed);
    field("error", c.error);
    field("skipped", c.skipped);
    field("xfailed", c.xfailed);
    field("xpassed", c.xpassed);
    field("notrun", c.notrun);
    field("timeout", c.timeout);
    field("crash", c.crash);
    field("oom", c.oom);
    s_.end();
  }

  void phase(const PhaseReport& p) {
    s_.begin_object();
    field("when", p.when);
    field("outcome", p.outcome);
    field("category", phase_category(p));
    field("duration", p.duration);
    field("start", p.start);
    field("stop", p.stop);
    field("longrepr", p.longrepr);
    field("message", p.message);
    s_.key("sections");
    s_.begin_array();
    for (const auto& [name, content] : p.sections) {
      s_.begin_object();
      field("name", name);
      field("content", content);
      s_.end();
    }
    s_.end();
    field("wasxfail", p.wasxfail);
    s_.end();
  }

  void record(const TestRecord& t) {
    s_.begin_object();
    field("nodeid", t.nodeid);
    field("index", t.index);
    field("worker", t.worker);
    field("outcome", overall_outcome(t));
    field("cause", cause_name(t.cause));
    field("cause_message", t.cause_message);
    strings("leaks", leaks_of(t));
    field("verdict", t.verdict);
    s_.key("attempts");
    s_.begin_array();
    for (const RetryAttempt& a : t.attempts) {
      s_.begin_object();
      field("kind", a.kind);
      field("predecessors", a.predecessors);
      field("worker", a.worker);
      field("outcome", a.outcome);
      field("cause", cause_name(a.cause));
      field("cause_message", a.cause_message);
      s_.key("phases");
      s_.begin_array();
      for (const PhaseReport& p : a.phases) phase(p);
      s_.end();
      if (a.resources) resources(*a.resources);
      s_.end();
    }
    s_.end();
    s_.key("phases");
    s_.begin_array();
    double duration = 0;
    for (const PhaseReport& p : t.phases) {
      duration += p.duration;
      phase(p);
    }
    s_.end();
    field("duration", duration);
    field("start", t.phases.empty() ? 0.0 : t.phases.front().start);
    field("stop", t.phases.empty() ? 0.0 : t.phases.back().stop);
    if (t.resources) resources(*t.resources);
    s_.end();
  }

  // A test's "resources": only what was measured.
  void resources(const TestResources& r) {
    s_.key("resources");
    s_.begin_object();
    const auto count = [&](const char* key, const std::optional<std::uint64_t>& v) {
      if (!v) return;
      s_.key(key);
      s_.value(*v);
    };
    if (r.cpu_s) field("cpu_s", *r.cpu_s);
    if (!r.cpu_source.empty()) field("cpu_source", r.cpu_source);
    count("memory_peak_bytes", r.memory_peak_bytes);
    count("memory_start_bytes", r.memory_start_bytes);
    if (!r.memory_peak_scope.empty()) field("memory_peak_scope", r.memory_peak_scope);
    count("pids_started", r.pids_started);
    s_.end();
  }

  Sink& s_;
};

}  // namespace

json render_json_report(const ResultStore& tests, const RunInfo& run) {
  DomSink sink;
  Emitter<DomSink>(sink).report(tests, run);
  return sink.take();
}

json render_json_report(const std::vector<TestRecord>& tests, const RunInfo& run) {
  return render_json_report(ResultStore::from(tests), run);
}

std::string render_json_text(const ResultStore& tests, const RunInfo& run) {
  std::string out;
  out.reserve(64 * 1024);
  TextSink sink(out);
  Emitter<TextSink>(sink).report(tests, run);
  sink.finish();
  return out;
}

std::string render_json_text(const std::vector<TestRecord>& tests, const RunInfo& run) {
  return render_json_text(ResultStore::from(tests), run);
}

void stream_json_text(const ResultStore& tests, const RunInfo& run, const TextOut& out) {
  std::string text;
  text.reserve(kDrainAt + 64 * 1024);
  TextSink sink(text);
  Emitter<TextSink>(sink).report(tests, run, [&] { sink.drain(kDrainAt, out); });
  sink.finish();
  out(text);
}

void write_json_report(const std::string& path, const ResultStore& tests, const RunInfo& run) {
  AtomicFile file(path);
  stream_json_text(tests, run, [&file](std::string_view text) { file.write(text); });
  file.write("\n");
  file.commit();
}

void write_json_report(const std::string& path, const std::vector<TestRecord>& tests,
                       const RunInfo& run) {
  write_json_report(path, ResultStore::from(tests), run);
}

}  // namespace bulkhead

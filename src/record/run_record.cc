// Run records: their JSON (run.json, results.jsonl lines), reading them back with errors that
// name the file, line and field, listing and resolving run ids, a sandbox's sequence.
#include "src/record/run_record.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <concepts>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/record/sha256.h"
#include "src/report/resources_json.h"
#include "src/run/flat_json.h"

namespace bulkhead::record {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRunFile = "run.json";
constexpr const char* kResultsFile = "results.jsonl";

template <typename T>
json optional_json(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

// Typed access to one JSON object of a record file; errors name the file and field.
class Fields {
 public:
  Fields(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) fail("", "an object");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& expected) const {
    throw RecordError(where_ + (field.empty() ? "" : ": field '" + field + "'") + ": expected " +
                      expected);
  }
  const json* find(const std::string& field) const {
    auto it = object_.find(field);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string text(const std::string& field, bool required = false) const {
    if (required && !find(field)) fail(field, "a string");
    return typed<std::string>(field, &json::is_string, "a string", std::string());
  }
  double number(const std::string& field, double fallback = 0) const {
    return typed<double>(field, &json::is_number, "a number", fallback);
  }
  long long integer(const std::string& field, long long fallback = 0) const {
    return typed<long long>(field, &json::is_number_integer, "an integer", fallback);
  }
  template <typename T>
  std::optional<T> maybe(const std::string& field) const {
    if (!find(field)) return std::nullopt;
    return typed<T>(field, &json::is_number, "a number or null", T{});
  }
  bool flag(const std::string& field) const {
    return typed<bool>(field, &json::is_boolean, "true or false", false);
  }
  std::vector<std::string> texts(const std::string& field) const {
    std::vector<std::string> out;
    const json* value = find(field);
    if (!value) return out;
    if (!value->is_array()) fail(field, "a list of strings");
    for (const json& item : *value) {
      if (!item.is_string()) fail(field, "a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::map<std::string, std::string> text_map(const std::string& field) const {
    std::map<std::string, std::string> out;
    const json* value = find(field);
    if (!value) return out;
    if (!value->is_object()) fail(field, "an object of strings");
    for (auto it = value->begin(); it != value->end(); ++it) {
      if (!it.value().is_string()) fail(field + "." + it.key(), "a string");
      out[it.key()] = it.value().get<std::string>();
    }
    return out;
  }
  Fields object(const std::string& field) const {
    const json* value = find(field);
    static const json empty = json::object();
    if (value && !value->is_object()) fail(field, "an object");
    return Fields(value ? *value : empty, where_ + ": " + field);
  }
  const json& raw() const { return object_; }

 private:
  // The field as T; `fallback` when absent or null; fails unless (value.*is_kind)().
  template <typename T>
  T typed(const std::string& field, bool (json::*is_kind)() const noexcept, const char* expected,
          T fallback) const {
    const json* value = find(field);
    if (!value) return fallback;
    if (!(value->*is_kind)()) fail(field, expected);
    return value->get<T>();
  }

  const json& object_;
  std::string where_;
};

std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw RecordError(path + ": cannot read (" + std::strerror(errno) + ")");
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

json parse_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& error) {
    throw RecordError(where + ": not valid JSON (" + error.what() + ")");
  }
}

RecordedTest test_from(const json& line, const std::string& where) {
  const Fields f(line, where);
  RecordedTest test;
  const long long index = f.integer("index", -1);
  if (index < 0) f.fail("index", "a non-negative integer");
  test.index = static_cast<std::size_t>(index);
  test.nodeid = f.text("nodeid", true);
  test.worker = f.text("worker");
  test.sandbox = static_cast<int>(f.integer("sandbox", -1));
  test.seq = static_cast<int>(f.integer("seq", -1));
  test.outcome = f.text("outcome", true);
  test.cause = f.text("cause");
  test.cause_message = f.text("cause_message");
  test.start = f.number("start");
  test.stop = f.number("stop");
  test.attempt = static_cast<int>(f.integer("attempt", 0));
  test.kind = f.find("kind") ? f.text("kind") : "run";
  if (const json* resources = f.find("resources")) {
    test.resources =
        resources_from_json(*resources, [&](const std::string& field, const std::string& expected) {
          f.fail(field.empty() ? "resources" : "resources." + field, expected);
        });
  }
  return test;
}

constexpr std::string_view kLineFields[] = {"index",   "nodeid", "worker",        "sandbox", "seq",
                                            "outcome", "cause",  "cause_message", "start",   "stop",
                                            "attempt", "kind",   "resources"};

// A whole number that fits an int (test_from's positions and attempt); `fallback` when absent.
bool small_integer(const flat_json::Value* value, int fallback, int& out) {
  if (value == nullptr) {
    out = fallback;
    return true;
  }
  if (value->kind != flat_json::Value::Kind::Unsigned ||
      value->whole > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    return false;
  }
  out = static_cast<int>(value->whole);
  return true;
}

}  // namespace

std::optional<RecordedTest> plain_result_line(std::string_view line) {
  using flat_json::Value;
  flat_json::Fields fields;
  if (!flat_json::scan_fields(line, fields, true)) return std::nullopt;
  flat_json::Known known(kLineFields);
  if (!flat_json::place_all(fields, known, true)) return std::nullopt;
  for (std::size_t i = 0; i < fields.count; ++i) {  // only `resources` may be an object
    if (fields.at[i].value.kind == Value::Kind::Object && fields.at[i].key != kLineFields[12]) {
      return std::nullopt;
    }
  }
  RecordedTest test;
  const Value* index = known.get(0);
  if (index == nullptr || index->kind != Value::Kind::Unsigned ||
      index->whole > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
    return std::nullopt;
  }
  test.index = static_cast<std::size_t>(index->whole);
  if (known.get(1) == nullptr || known.get(5) == nullptr) return std::nullopt;  // required
  const bool ok =
      flat_json::text(known.get(1), test.nodeid) && flat_json::text(known.get(2), test.worker) &&
      small_integer(known.get(3), -1, test.sandbox) && small_integer(known.get(4), -1, test.seq) &&
      flat_json::text(known.get(5), test.outcome) && flat_json::text(known.get(6), test.cause) &&
      flat_json::text(known.get(7), test.cause_message) &&
      flat_json::real(known.get(8), test.start) && flat_json::real(known.get(9), test.stop) &&
      small_integer(known.get(10), 0, test.attempt) && flat_json::text(known.get(11), test.kind);
  if (!ok) return std::nullopt;
  if (const Value* resources = known.get(12)) {
    if (resources->kind != Value::Kind::Object) return std::nullopt;
    test.resources = flat_json::plain_resources(resources->body);
    if (!test.resources) return std::nullopt;
  }
  return test;
}

RecordedTest result_from_line(std::string_view line, const std::string& where) {
  json parsed;
  try {
    parsed = json::parse(line);
  } catch (const json::parse_error& error) {
    throw RecordError(where + ": not valid JSON (" + error.what() + ")");
  }
  return test_from(parsed, where);
}

namespace {

void read_results(const std::string& path, RunRecord& run,
                  const std::function<void(RecordedTest&&)>& on_test) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    if (errno == ENOENT) return;  // a run that ended before its first test
    throw RecordError(path + ": cannot read (" + std::strerror(errno) + ")");
  }
  // One line a test, usually: grown once, not by doubling (bounded: the count is the file's).
  if (!on_test) run.tests.reserve(std::min<std::size_t>(run.collected, std::size_t{1} << 20));
  std::string line;
  std::size_t number = 0;
  while (std::getline(file, line)) {
    ++number;
    const bool cut_off = file.eof();  // no newline: bulkhead died while writing this line
    if (line.empty()) continue;
    if (std::optional<RecordedTest> plain = plain_result_line(line)) {  // most lines
      if (on_test) {
        on_test(std::move(*plain));
      } else {
        run.tests.push_back(std::move(*plain));
      }
      continue;
    }
    const std::string where = path + ":" + std::to_string(number);
    json parsed;
    try {
      parsed = json::parse(line);
    } catch (const json::parse_error& error) {
      if (cut_off) break;
      throw RecordError(where + ": not valid JSON (" + error.what() + ")");
    }
    if (on_test) {
      on_test(test_from(parsed, where));
    } else {
      run.tests.push_back(test_from(parsed, where));
    }
  }
}

double started_at(const fs::path& dir) {
  try {
    const json run = json::parse(read_text((dir / kRunFile).string()));
    if (run.is_object() && run.contains("start_time") && run["start_time"].is_number()) {
      return run["start_time"].get<double>();
    }
  } catch (const std::exception&) {
    // A damaged run.json still lists, by its directory's time.
  }
  struct stat info {};
  if (stat(dir.c_str(), &info) == 0) return static_cast<double>(info.st_mtime);
  return 0;
}

}  // namespace

std::string runs_dir(const std::string& rootdir) {
  return (fs::path(rootdir) / ".bulkhead" / "runs").string();
}

std::vector<std::string> list_runs(const std::string& runs_dir) {
  std::vector<std::pair<double, std::string>> found;
  std::error_code error;
  for (fs::directory_iterator it(runs_dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_directory()) continue;  // in the making, pruned
    found.emplace_back(started_at(it->path()), name);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  std::vector<std::string> ids;
  for (auto& entry : found) ids.push_back(std::move(entry.second));
  return ids;
}

std::string resolve_run(const std::string& runs_dir, const std::string& wanted) {
  const std::vector<std::string> ids = list_runs(runs_dir);
  if (ids.empty()) {
    throw RecordError("no run records in " + runs_dir + " (bulkhead run writes one per run)");
  }
  if (wanted.empty()) return ids.front();
  std::vector<std::string> matches;
  for (const std::string& id : ids) {
    if (id == wanted) return id;
    if (id.rfind(wanted, 0) == 0) matches.push_back(id);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) throw RecordError("no run '" + wanted + "' in " + runs_dir);
  std::string list;
  for (const std::string& id : matches) list += (list.empty() ? "" : ", ") + id;
  throw RecordError("run '" + wanted + "' is ambiguous in " + runs_dir + ": " + list);
}

RunRecord read_run(const std::string& runs_dir, const std::string& run_id,
                   const std::function<void(RecordedTest&&)>& on_test) {
  const fs::path dir = fs::path(runs_dir) / run_id;
  const std::string path = (dir / kRunFile).string();
  const json parsed = parse_json(read_text(path), path);
  const Fields f(parsed, path);
  RunRecord run;
  run.dir = dir.string();
  run.format = static_cast<int>(f.integer("format", 0));
  if (run.format < 1 || run.format > kFormatVersion) {
    f.fail("format", "1 to " + std::to_string(kFormatVersion) + " (written by a newer bulkhead?)");
  }
  run.run_id = f.text("run_id", true);
  run.start_time = f.number("start_time");
  run.duration = f.number("duration");
  run.exit_code = static_cast<int>(f.integer("exit_code", -1));
  run.finished = f.flag("finished");
  const Fields versions = f.object("versions");
  run.bulkhead_version = versions.text("bulkhead");
  run.python_version = versions.text("python");
  run.pytest_version = versions.text("pytest");
  run.python = f.text("python");
  run.argv = f.texts("argv");
  run.cwd = f.text("cwd");
  run.rootdir = f.text("rootdir");
  run.git_commit = f.text("git_commit");
  run.pytest_args = f.texts("pytest_args");
  const Fields profile = f.object("profile");
  run.profile = profile.text("name");
  run.profile_path = profile.text("path");
  const Fields limits = f.object("limits");
  run.limits.memory_bytes = limits.maybe<uint64_t>("memory_bytes");
  run.limits.cpus = limits.maybe<double>("cpus");
  run.limits.pids = limits.maybe<uint64_t>("pids");
  run.limits.nofile = limits.maybe<uint64_t>("nofile");
  run.limits.test_timeout_s = limits.maybe<double>("test_timeout_s");
  const Fields settings = f.object("settings");
  run.settings.workers = static_cast<int>(settings.integer("workers"));
  run.settings.dist = settings.text("dist");
  run.settings.mode = settings.text("mode");
  run.settings.isolate = settings.text("isolate");
  run.settings.timeout_s = settings.maybe<double>("timeout_s");
  run.settings.retries = static_cast<int>(settings.integer("retries"));
  run.env = f.text_map("env");
  const Fields per_worker = f.object("worker_env");
  for (auto it = per_worker.raw().begin(); it != per_worker.raw().end(); ++it) {
    run.worker_env[it.key()] = per_worker.text_map(it.key());
  }
  run.seeds = f.text_map("seeds");
  const Fields counts = f.object("counts");
  for (auto it = counts.raw().begin(); it != counts.raw().end(); ++it) {
    const long long count = counts.integer(it.key());
    if (count < 0) counts.fail(it.key(), "a non-negative integer");
    run.counts[it.key()] = static_cast<std::size_t>(count);
  }
  run.collected = static_cast<std::size_t>(std::max(0LL, f.integer("collected")));
  read_results((dir / kResultsFile).string(), run, on_test);
  return run;
}

std::vector<const RecordedTest*> sandbox_sequence(const RunRecord& run, const RecordedTest& test) {
  std::vector<const RecordedTest*> sequence;
  if (test.worker.empty() || test.sandbox < 0 || test.seq < 0) return sequence;
  for (const RecordedTest& other : run.tests) {
    if (other.attempt == test.attempt && other.worker == test.worker &&
        other.sandbox == test.sandbox && other.seq >= 0 && other.seq <= test.seq) {
      sequence.push_back(&other);
    }
  }
  std::sort(sequence.begin(), sequence.end(),
            [](const RecordedTest* a, const RecordedTest* b) { return a->seq < b->seq; });
  return sequence;
}

const RecordedTest* find_recorded_test(const RunRecord& run, const std::string& nodeid) {
  for (const RecordedTest& test : run.tests) {
    if (test.attempt == 0 && test.nodeid == nodeid) return &test;
  }
  return nullptr;
}

std::map<std::string, std::string> worker_env(const RunRecord& run, const std::string& worker) {
  std::map<std::string, std::string> env = run.env;
  if (auto own = run.worker_env.find(worker); own != run.worker_env.end()) {
    for (const auto& [key, value] : own->second) env[key] = value;
  }
  return env;
}

bool looks_secret(const std::string& name) {
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* word : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH",
                           "COOKIE", "SESSION", "PRIVATE"}) {
    if (upper.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string recorded_value(const std::string& name, const std::string& value) {
  if (!looks_secret(name)) return value;
  return "sha256:" + sha256_hex(value).substr(0, 16);
}

std::string run_json_text(const RunRecord& run) {
  json out = json::object();
  out["format"] = run.format;
  out["run_id"] = run.run_id;
  out["start_time"] = run.start_time;
  out["duration"] = run.duration;
  out["exit_code"] = run.finished ? json(run.exit_code) : json(nullptr);
  out["finished"] = run.finished;
  out["versions"] = {{"bulkhead", run.bulkhead_version},
                     {"python", run.python_version},
                     {"pytest", run.pytest_version}};
  out["python"] = run.python;
  out["argv"] = run.argv;
  out["cwd"] = run.cwd;
  out["rootdir"] = run.rootdir;
  out["git_commit"] = run.git_commit;
  out["pytest_args"] = run.pytest_args;
  out["profile"] = {{"name", run.profile}, {"path", run.profile_path}};
  out["limits"] = {{"memory_bytes", optional_json(run.limits.memory_bytes)},
                   {"cpus", optional_json(run.limits.cpus)},
                   {"pids", optional_json(run.limits.pids)},
                   {"nofile", optional_json(run.limits.nofile)},
                   {"test_timeout_s", optional_json(run.limits.test_timeout_s)}};
  out["settings"] = {{"workers", run.settings.workers},
                     {"dist", run.settings.dist},
                     {"mode", run.settings.mode},
                     {"isolate", run.settings.isolate},
                     {"timeout_s", optional_json(run.settings.timeout_s)},
                     {"retries", run.settings.retries}};
  out["env"] = run.env;
  out["worker_env"] = run.worker_env;
  out["seeds"] = run.seeds;
  out["counts"] = run.counts;
  out["collected"] = run.collected;
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

// The line is written field by field in the order and bytes nlohmann's dump of the same object
// gives (keys sorted; its number and string forms): one line a test, without building a tree.
void put_string(std::string& out, const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
  });
  if (!plain) {
    out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

void put_real(std::string& out, double value) { out += json(value).dump(); }

// `,"key":` (no comma before the first field).
void put_key(std::string& out, const char* key) {
  if (out.size() > 1 && out.back() != '{') out += ',';
  out += '"';
  out += key;
  out += "\":";
}

// `,"key":value` in the dump's forms: a string, a real, or an integer.
void put_field(std::string& out, const char* key, const std::string& text) {
  put_key(out, key);
  put_string(out, text);
}

void put_field(std::string& out, const char* key, double value) {
  put_key(out, key);
  put_real(out, value);
}

template <std::integral Integer>
void put_field(std::string& out, const char* key, Integer value) {
  put_key(out, key);
  out += std::to_string(value);
}

void put_resources(std::string& out, const TestResources& r) {
  out += '{';
  if (r.cpu_s) put_field(out, "cpu_s", *r.cpu_s);
  if (!r.cpu_source.empty()) put_field(out, "cpu_source", r.cpu_source);
  if (r.memory_peak_bytes) put_field(out, "memory_peak_bytes", *r.memory_peak_bytes);
  if (!r.memory_peak_scope.empty()) put_field(out, "memory_peak_scope", r.memory_peak_scope);
  if (r.memory_start_bytes) put_field(out, "memory_start_bytes", *r.memory_start_bytes);
  if (r.pids_started) put_field(out, "pids_started", *r.pids_started);
  out += '}';
}

}  // namespace

std::string result_line(const RecordedTest& test) {
  std::string out = "{";
  out.reserve(512);
  if (test.attempt != 0) put_field(out, "attempt", test.attempt);
  put_field(out, "cause", test.cause);
  put_field(out, "cause_message", test.cause_message);
  put_field(out, "duration", test.stop > test.start ? test.stop - test.start : 0.0);
  put_field(out, "index", test.index);
  if (test.attempt != 0) put_field(out, "kind", test.kind);
  put_field(out, "nodeid", test.nodeid);
  put_field(out, "outcome", test.outcome);
  if (test.resources) {
    put_key(out, "resources");
    put_resources(out, *test.resources);
  }
  put_field(out, "sandbox", test.sandbox);
  put_field(out, "seq", test.seq);
  put_field(out, "start", test.start);
  put_field(out, "stop", test.stop);
  put_field(out, "worker", test.worker);
  out += "}\n";
  return out;
}

}  // namespace bulkhead::record

// JSON report -> RunInfo + TestRecords (report_reader.h).
#include "src/merge/report_reader.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sandbox/error.h"
#include "src/report/outcome.h"
#include "src/report/resources_json.h"

namespace bulkhead {

namespace {

using nlohmann::json;

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw UserError(path_ + ": " + where + ": " + what);
  }

  const json& member(const json& object, const char* key, const std::string& where) const {
    auto it = object.find(key);
    if (it == object.end()) fail(where, std::string("missing '") + key + "'");
    return *it;
  }
  std::string text(const json& object, const char* key, const std::string& where) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return {};
    if (!it->is_string()) fail(where + "." + key, "expected a string");
    return it->get<std::string>();
  }
  double number(const json& object, const char* key, const std::string& where) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return 0;
    if (!it->is_number()) fail(where + "." + key, "expected a number");
    return it->get<double>();
  }
  long integer(const json& object, const char* key, const std::string& where) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return 0;
    if (!it->is_number_integer()) fail(where + "." + key, "expected an integer");
    return it->get<long>();
  }
  std::vector<std::string> strings(const json& object, const char* key,
                                   const std::string& where) const {
    std::vector<std::string> out;
    auto it = object.find(key);
    if (it == object.end()) return out;
    if (!it->is_array()) fail(where + "." + key, "expected an array of strings");
    for (const json& item : *it) {
      if (!item.is_string()) fail(where + "." + key, "expected an array of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  ShardAssignment shard(const json& object) const {
    const std::string where = "run.shard";
    ShardAssignment out;
    out.index = static_cast<int>(integer(object, "index", where)) - 1;
    out.total = static_cast<int>(integer(object, "total", where));
    if (out.total < 1 || out.index < 0 || out.index >= out.total) {
      fail(where, "index " + std::to_string(out.index + 1) + " of " + std::to_string(out.total) +
                      " is not a shard");
    }
    out.provider = text(object, "provider", where);
    out.found = text(object, "found", where);
    out.digest = text(object, "digest", where);
    out.durations = text(object, "durations", where);
    out.collection = strings(object, "collection", where);
    const json& shard_of = member(object, "shard_of", where);
    if (!shard_of.is_array()) fail(where + ".shard_of", "expected an array");
    for (const json& s : shard_of) {
      if (!s.is_number_integer() || s.get<long>() < 1 || s.get<long>() > out.total) {
        fail(where + ".shard_of", "expected shard numbers from 1 to " + std::to_string(out.total));
      }
      out.shard_of.push_back(static_cast<int>(s.get<long>()) - 1);
    }
    if (auto it = object.find("expected_s"); it != object.end() && it->is_array()) {
      for (const json& s : *it) out.expected_s.push_back(s.is_number() ? s.get<double>() : 0);
    }
    return out;
  }

  RunInfo run(const json& object) const {
    const std::string where = "run";
    if (!object.is_object()) fail(where, "expected an object");
    RunInfo out;
    out.run_id = text(object, "run_id", where);
    out.profile = text(object, "profile", where);
    out.cgroup_mode = text(object, "cgroup_mode", where);
    out.workers = static_cast<int>(integer(object, "workers", where));
    out.python = text(object, "python", where);
    out.python_version = text(object, "python_version", where);
    out.pytest_version = text(object, "pytest_version", where);
    out.rootdir = text(object, "rootdir", where);
    out.pytest_args = strings(object, "pytest_args", where);
    out.start_time = number(object, "start_time", where);
    out.duration = number(object, "duration", where);
    out.exit_code = static_cast<int>(integer(object, "exit_code", where));
    out.isolation_missing = strings(object, "isolation_missing", where);
    if (auto it = object.find("shard"); it != object.end() && !it->is_null()) {
      if (!it->is_object()) fail("run.shard", "expected an object");
      out.shard = shard(*it);
    }
    return out;
  }

  PhaseReport phase(const json& object, const std::string& where) const {
    if (!object.is_object()) fail(where, "expected an object");
    PhaseReport out;
    out.when = text(object, "when", where);
    out.outcome = text(object, "outcome", where);
    out.category = text(object, "category", where);
    out.duration = number(object, "duration", where);
    out.start = number(object, "start", where);
    out.stop = number(object, "stop", where);
    out.longrepr = text(object, "longrepr", where);
    out.message = text(object, "message", where);
    out.wasxfail = text(object, "wasxfail", where);
    if (auto it = object.find("sections"); it != object.end() && it->is_array()) {
      for (const json& section : *it) {
        out.sections.emplace_back(text(section, "name", where + ".sections"),
                                  text(section, "content", where + ".sections"));
      }
    }
    return out;
  }

  TestRecord test(const json& object, std::size_t position) const {
    const std::string where = "tests[" + std::to_string(position) + "]";
    if (!object.is_object()) fail(where, "expected an object");
    TestRecord out;
    out.nodeid = text(object, "nodeid", where);
    const long index = integer(object, "index", where);
    if (index < 0) fail(where + ".index", "expected a position in the collection");
    out.index = static_cast<std::size_t>(index);
    out.worker = text(object, "worker", where);
    out.cause_message = text(object, "cause_message", where);
    const std::string cause = text(object, "cause", where);
    for (Cause c : {Cause::None, Cause::Timeout, Cause::Crash, Cause::OOM, Cause::NotRun}) {
      if (cause == cause_name(c)) out.cause = c;
    }
    const json& phases = member(object, "phases", where);
    if (!phases.is_array()) fail(where + ".phases", "expected an array");
    for (std::size_t i = 0; i < phases.size(); ++i) {
      out.phases.push_back(phase(phases[i], where + ".phases[" + std::to_string(i) + "]"));
    }
    // The phase record_cause() added for a timeout, crash or OOM is the last one: mark it
    // again, as reports find it by its mark.
    if (is_interrupting(out.cause) && !out.phases.empty()) {
      out.phases.back().raw = {{"bulkhead_cause", cause}};
    }
    if (auto it = object.find("resources"); it != object.end() && !it->is_null()) {
      out.resources = resources(*it, where + ".resources");
    }
    out.finished = true;
    return out;
  }

  TestResources resources(const json& object, const std::string& where) const {
    return resources_from_json(object, [&](const std::string& field, const std::string& expected) {
      fail(field.empty() ? where : where + "." + field, "expected " + expected);
    });
  }

 private:
  std::string path_;
};

}  // namespace

ShardInput read_shard_report(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot read it (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << file.rdbuf();
  const json document = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    throw UserError(path + ": not a JSON report (bulkhead run --json)");
  }
  const Reader reader(path);
  ShardInput input;
  input.path = path;
  input.run = reader.run(reader.member(document, "run", "report"));
  if (input.run.shard) input.collection = input.run.shard->collection;
  const json& tests = reader.member(document, "tests", "report");
  if (!tests.is_array()) reader.fail("tests", "expected an array");
  input.tests.reserve(tests.size());
  for (std::size_t i = 0; i < tests.size(); ++i) input.tests.push_back(reader.test(tests[i], i));
  return input;
}

}  // namespace bulkhead

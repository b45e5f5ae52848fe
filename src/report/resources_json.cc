// TestResources to and from JSON (resources_json.h).
#include "src/report/resources_json.h"

#include <cstdint>

namespace bulkhead {

using nlohmann::json;

json resources_json(const TestResources& r) {
  json out = json::object();
  if (r.cpu_s) out["cpu_s"] = *r.cpu_s;
  if (!r.cpu_source.empty()) out["cpu_source"] = r.cpu_source;
  if (r.memory_peak_bytes) out["memory_peak_bytes"] = *r.memory_peak_bytes;
  if (r.memory_start_bytes) out["memory_start_bytes"] = *r.memory_start_bytes;
  if (!r.memory_peak_scope.empty()) out["memory_peak_scope"] = r.memory_peak_scope;
  if (r.pids_started) out["pids_started"] = *r.pids_started;
  return out;
}

TestResources resources_from_json(const json& object, const ResourceFieldError& fail) {
  TestResources out;
  if (!object.is_object()) {
    fail("", "an object");
    return out;
  }
  const auto present = [&](const char* key) -> const json* {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  };
  const auto count = [&](const char* key) -> std::optional<std::uint64_t> {
    const json* value = present(key);
    if (!value) return std::nullopt;
    // (Parsed text holds counts as unsigned; a json built in code may hold them signed.)
    const bool whole = value->is_number_unsigned() ||
                       (value->is_number_integer() && value->get<std::int64_t>() >= 0);
    if (!whole) {
      fail(key, "a count of 0 or more");
      return std::nullopt;
    }
    return value->get<std::uint64_t>();
  };
  const auto text = [&](const char* key) -> std::string {
    const json* value = present(key);
    if (!value) return "";
    if (!value->is_string()) {
      fail(key, "a string");
      return "";
    }
    return value->get<std::string>();
  };
  if (const json* cpu = present("cpu_s")) {
    if (!cpu->is_number() || cpu->get<double>() < 0) {
      fail("cpu_s", "seconds, 0 or more");
    } else {
      out.cpu_s = cpu->get<double>();
    }
  }
  out.cpu_source = text("cpu_source");
  out.memory_peak_bytes = count("memory_peak_bytes");
  out.memory_start_bytes = count("memory_start_bytes");
  out.memory_peak_scope = text("memory_peak_scope");
  out.pids_started = count("pids_started");
  return out;
}

}  // namespace bulkhead

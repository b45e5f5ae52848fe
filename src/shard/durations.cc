// pytest-split's durations file, measured durations, and expectations per test (durations.h).
#include "src/shard/durations.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sandbox/error.h"
#include "src/report/outcome.h"

namespace bulkhead {

namespace {

using nlohmann::json;

// pytest-split ignores setup and teardown phases longer than this (freezegun's clock jumps).
constexpr double kPhaseOutlierS = 600;

double checked_seconds(const json& value, const std::string& path, const std::string& nodeid) {
  if (!value.is_number()) {
    throw UserError(path + ": \"" + nodeid + "\": expected a duration in seconds, got " +
                    std::string(value.type_name()));
  }
  const double seconds = value.get<double>();
  if (!std::isfinite(seconds) || seconds < 0) {
    throw UserError(path + ": \"" + nodeid + "\": expected a duration >= 0, got " + value.dump());
  }
  return seconds;
}

}  // namespace

std::optional<DurationMap> read_test_durations(const std::string& path) {
  std::error_code missing;
  if (!std::filesystem::exists(path, missing) && !missing) return std::nullopt;
  std::ifstream file(path);
  if (!file) throw SysError("open " + path, errno ? errno : EIO);
  std::stringstream text;
  text << file.rdbuf();
  const json document = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    throw UserError(path + ": not valid JSON (expected pytest-split's {\"nodeid\": seconds})");
  }
  DurationMap out;
  if (document.is_object()) {
    for (const auto& [nodeid, value] : document.items()) {
      out[nodeid] = checked_seconds(value, path, nodeid);
    }
    return out;
  }
  if (document.is_array()) {  // pytest-split before 0.3: [[nodeid, seconds], ...]
    for (const json& pair : document) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string()) {
        throw UserError(path + ": expected [nodeid, seconds] pairs, got " +
                        pair.dump().substr(0, 80));
      }
      const std::string nodeid = pair[0].get<std::string>();
      out[nodeid] = checked_seconds(pair[1], path, nodeid);
    }
    return out;
  }
  throw UserError(path + ": expected a JSON object {\"nodeid\": seconds}, got " +
                  std::string(document.type_name()));
}

std::string render_test_durations(const DurationMap& durations) {
  json document = json::object();
  for (const auto& [nodeid, seconds] : durations) document[nodeid] = seconds;
  // Python's json.dump(indent=4) writes "{}" for an empty object, as nlohmann does.
  return document.dump(4, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
}

void store_test_durations(const std::string& path, const DurationMap& measured) {
  DurationMap merged = read_test_durations(path).value_or(DurationMap{});
  for (const auto& [nodeid, seconds] : measured) merged[nodeid] = seconds;
  write_file_atomically(path, render_test_durations(merged));
}

DurationMap measured_durations(const ResultStore& records) {
  DurationMap out;
  records.for_each([&out](const TestRecord& record) {
    if (record.phases.empty()) return;
    double total = 0;
    bool any = false;
    for (const PhaseReport& phase : record.phases) {
      if (phase.duration < 0) continue;
      if (phase.when != "call" && phase.duration > kPhaseOutlierS) continue;
      total += phase.duration;
      any = true;
    }
    if (any) out[record.nodeid] = total;
  });
  return out;
}

DurationSource load_test_durations(const std::string& path) {
  DurationSource source;
  source.description = path;
  if (auto durations = read_test_durations(path)) {
    for (const auto& [nodeid, seconds] : *durations) source.tests.add(nodeid, {seconds, {}});
    source.tests.sort();
  }
  return source;
}

Estimates estimate(const std::vector<ScheduledItem>& items, const DurationSource& source) {
  Estimates out;
  if (source.tests.empty()) return out;
  // Two lookups a test rather than a copy of every test's duration at the collection's peak.
  std::vector<double> values;
  for (const ScheduledItem& item : items) {
    if (auto known = source.tests.find(item.nodeid)) values.push_back(known->total);
  }
  if (values.empty()) return out;
  out.known = values.size();
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  out.median_s = values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  values = {};
  out.expected_s.resize(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::optional<KnownDuration> known = source.tests.find(items[i].nodeid);
    const double total = known ? known->total : out.median_s;
    out.expected_s[i] = total;
    out.total_s += total;
    if (known && known->call) {
      // The first call time: the items so far are ordered by their totals, the rest fill in.
      if (out.order_s.empty()) out.order_s = out.expected_s;
      out.order_s[i] = *known->call;
    } else if (!out.order_s.empty()) {
      out.order_s[i] = total;
    }
  }
  return out;
}

}  // namespace bulkhead

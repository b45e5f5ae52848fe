// The Chrome trace / Perfetto JSON (trace.h).
#include "src/report/views/trace.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "src/report/views/report_reading.h"

namespace bulkhead {

namespace {

using nlohmann::json;

constexpr int kPid = 1;

json event(const char* phase, const std::string& name, int tid, double ts_us) {
  return json{
      {"ph", phase}, {"name", name}, {"pid", kPid}, {"tid", tid}, {"ts", std::llround(ts_us)}};
}

}  // namespace

json render_trace(const json& report) {
  const std::vector<ReportTest> tests = report_tests(report);
  const std::vector<ReportSandbox> sandboxes = report_sandboxes(report, tests);
  double t0 = std::numeric_limits<double>::infinity();
  for (const ReportTest& t : tests) {
    if (t.stop > 0) t0 = std::min(t0, t.start);
  }
  for (const ReportSandbox& s : sandboxes) {
    if (s.start > 0) t0 = std::min(t0, s.start);
  }
  if (!std::isfinite(t0)) t0 = 0;
  auto us = [t0](double unix_s) { return (unix_s - t0) * 1e6; };

  json events = json::array();
  json name = event("M", "process_name", 0, 0);
  name["args"] = {{"name", "bulkhead run " + report_run_id(report)}};
  events.push_back(name);
  std::map<std::string, int> tids;  // worker -> track
  auto tid_of = [&](const std::string& worker) {
    auto [it, added] = tids.emplace(worker, worker_number(worker) + 1);
    if (added) {
      json thread = event("M", "thread_name", it->second, 0);
      thread["args"] = {{"name", worker}};
      events.push_back(thread);
      json sort = event("M", "thread_sort_index", it->second, 0);
      sort["args"] = {{"sort_index", it->second}};
      events.push_back(sort);
    }
    return it->second;
  };
  for (const ReportSandbox& s : sandboxes) {
    const int tid = tid_of(s.worker);
    json slice =
        event("X", s.worker + " sandbox #" + std::to_string(s.incarnation), tid, us(s.start));
    slice["cat"] = "sandbox";
    slice["dur"] = std::llround(std::max(0.0, s.end - s.start) * 1e6);
    slice["args"] = {{"incarnation", s.incarnation},
                     {"pid", s.pid},
                     {"ended", s.ended},
                     {"message", s.message},
                     {"tests", s.tests}};
    events.push_back(slice);
    if (s.incarnation > 0) {
      json replaced = event("i", "sandbox replaced", tid, us(s.start));
      replaced["s"] = "t";
      replaced["cat"] = "replacement";
      replaced["args"] = {{"incarnation", s.incarnation}};
      events.push_back(replaced);
    }
  }
  for (const ReportTest& t : tests) {
    if (t.worker.empty() || t.stop <= 0) continue;
    const int tid = tid_of(t.worker);
    json slice = event("X", t.nodeid, tid, us(t.start));
    slice["cat"] = t.outcome;
    slice["dur"] = std::llround(std::max(0.0, t.stop - t.start) * 1e6);
    slice["args"] = {{"outcome", t.outcome}, {"incarnation", t.incarnation}};
    if (!t.cause.empty()) slice["args"]["cause"] = t.cause;
    if (t.resources && t.resources->is_object() && !t.resources->empty())
      slice["args"]["resources"] = *t.resources;
    events.push_back(slice);
    if (t.cause == "timeout" || t.cause == "crash" || t.cause == "oom") {
      json fault = event("i", t.cause + ": " + t.nodeid, tid, us(t.stop));
      fault["s"] = "t";
      fault["cat"] = t.cause;
      fault["args"] = {{"message", t.cause_message}};
      events.push_back(fault);
    }
  }
  return json{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
}

}  // namespace bulkhead

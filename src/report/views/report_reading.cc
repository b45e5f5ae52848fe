// Typed reading of a parsed JSON report (report_reading.h).
#include "src/report/views/report_reading.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

namespace bulkhead {

namespace {

using nlohmann::json;

std::string str(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double num(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string first_line(const std::string& text) {
  std::size_t begin = text.find_first_not_of(" \n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find('\n', begin) - begin);
}

}  // namespace

std::vector<ReportTest> report_tests(const json& report) {
  std::vector<ReportTest> out;
  auto tests = report.find("tests");
  if (tests == report.end() || !tests->is_array()) return out;
  out.reserve(tests->size());
  for (const json& t : *tests) {
    if (!t.is_object()) continue;
    ReportTest r;
    r.nodeid = str(t, "nodeid");
    r.outcome = str(t, "outcome");
    r.cause = str(t, "cause");
    r.cause_message = str(t, "cause_message");
    r.worker = str(t, "worker");
    auto inc = t.find("incarnation");
    if (inc != t.end() && inc->is_number_integer()) r.incarnation = inc->get<int>();
    r.start = num(t, "start");
    r.stop = num(t, "stop");
    r.duration = num(t, "duration");
    auto phases = t.find("phases");
    if (phases != t.end() && phases->is_array()) {
      for (const json& p : *phases) {
        if (!p.is_object() || str(p, "outcome") != "failed") continue;
        r.message = str(p, "message");
        r.longrepr = str(p, "longrepr");
        break;
      }
    }
    auto res = t.find("resources");
    if (res != t.end()) r.resources = &*res;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<ReportSandbox> report_sandboxes(const json& report,
                                            const std::vector<ReportTest>& tests) {
  std::vector<ReportSandbox> out;
  auto listed = report.find("sandboxes");
  if (listed != report.end() && listed->is_array()) {
    for (const json& s : *listed) {
      if (!s.is_object()) continue;
      ReportSandbox r;
      r.worker = str(s, "worker");
      r.incarnation = static_cast<int>(num(s, "incarnation"));
      r.pid = static_cast<long long>(num(s, "pid"));
      r.start = num(s, "start");
      r.end = num(s, "end");
      r.ended = str(s, "ended");
      r.message = str(s, "message");
      r.tests = static_cast<long long>(num(s, "tests"));
      out.push_back(std::move(r));
    }
  } else {
    std::map<std::string, ReportSandbox> per_worker;
    for (const ReportTest& t : tests) {
      if (t.worker.empty() || t.stop <= 0) continue;
      auto [it, added] = per_worker.try_emplace(t.worker);
      ReportSandbox& s = it->second;
      if (added) {
        s.worker = t.worker;
        s.start = t.start;
      }
      s.start = std::min(s.start, t.start);
      s.end = std::max(s.end, t.stop);
      ++s.tests;
    }
    for (auto& [worker, s] : per_worker) out.push_back(std::move(s));
    return out;
  }
  // Widen each sandbox to hold its tests.
  std::map<std::pair<std::string, int>, ReportSandbox*> by_key;
  for (ReportSandbox& s : out) by_key[{s.worker, s.incarnation}] = &s;
  for (const ReportTest& t : tests) {
    auto it = by_key.find({t.worker, t.incarnation});
    if (it == by_key.end() || t.stop <= 0) continue;
    ReportSandbox& s = *it->second;
    if (s.start <= 0 || t.start < s.start) s.start = t.start;
    s.end = std::max(s.end, t.stop);
  }
  for (ReportSandbox& s : out) s.end = std::max(s.end, s.start);
  return out;
}

std::string report_run_id(const json& report) {
  auto run = report.find("run");
  return run != report.end() && run->is_object() ? str(*run, "run_id") : std::string();
}

int worker_number(const std::string& worker) {
  auto digits = [](std::string_view text) {
    int n = 0;
    for (char c : text) {
      if (c >= '0' && c <= '9') n = n * 10 + (c - '0');
    }
    return n;
  };
  const std::size_t slash = worker.find('/');
  if (slash == std::string::npos) return digits(worker);
  return digits(std::string_view(worker).substr(0, slash)) * 10000 +
         digits(std::string_view(worker).substr(slash + 1));
}

std::string one_line_reason(const ReportTest& test) {
  if (!test.cause_message.empty()) return first_line(test.cause_message);
  if (!test.message.empty()) return first_line(test.message);
  std::string text = test.longrepr;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return first_line(text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n')));
}

}  // namespace bulkhead

// Typed reading of a parsed JSON report (docs/reports.md) for the views made from it (trace,
// CI annotations and step summary): its tests and its sandboxes, whichever format version.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bulkhead {

struct ReportTest {
  std::string nodeid;
  std::string outcome;  // "passed", "failed", "error", ..., "notrun"
  std::string cause;    // "", "timeout", "crash", "oom", "notrun"
  std::string cause_message;
  std::string worker;    // "" when no worker ran it
  int incarnation = -1;  // -1 when unknown (format 1) or not run
  double start = 0, stop = 0, duration = 0;
  std::string message;                        // the first failing phase's one-line message
  std::string longrepr;                       // the first failing phase's longrepr
  const nlohmann::json* resources = nullptr;  // the test's "resources", when present
};

struct ReportSandbox {
  std::string worker;
  int incarnation = 0;
  long long pid = 0;
  double start = 0, end = 0;
  std::string ended;  // "exited", "crashed", "timeout", "oom", "killed", "failed to start", ""
  std::string message;
  long long tests = 0;
};

std::vector<ReportTest> report_tests(const nlohmann::json& report);
// The report's "sandboxes", each widened to hold its tests (an end of 0, a run cut short, is its
// last test's stop); a report without them gets one per worker, spanning that worker's tests.
std::vector<ReportSandbox> report_sandboxes(const nlohmann::json& report,
                                            const std::vector<ReportTest>& tests);
std::string report_run_id(const nlohmann::json& report);
// 3 for "gw3"; 20003 for a merged report's "2/gw3" (shard 2's gw3), so tracks sort by shard
// and worker; 0 when the name has no number.
int worker_number(const std::string& worker);
// The one-line reason a test failed: its cause's message, else the failing phase's message,
// else the longrepr's last line.
std::string one_line_reason(const ReportTest& test);

}  // namespace bulkhead

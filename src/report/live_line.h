// The live status line of `--progress line`: what it says (done/total, the running tests,
// the ETA) fitted to the terminal's width. Text only; the Terminal draws it, src/run/progress.h
// decides when.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace bulkhead {

struct RunningTest {
  std::string worker;  // gw<i>
  std::string nodeid;
  double elapsed_s = 0;
};

struct LiveStatus {
  std::size_t done = 0;
  std::size_t total = 0;
  bool queue_empty = false;          // every test has been handed to a worker
  std::vector<RunningTest> running;  // longest-running first
  std::optional<double> eta_s;
  bool failed = false;  // a test failed so far
};

// "1 m 05 s"-like short durations: 0.4s, 12s, 1m05s, 2h03m.
std::string short_duration(double seconds);

// The line, at most `width - 1` columns (a full row would wrap on some terminals). At the tail
// (only running tests left) it names every running test with its time; before that the ETA,
// the count of running tests and the longest-running one.
std::string live_line(const LiveStatus& status, int width);

// Every running test, for the SIGUSR1 / `t` report: "gw1 12s tests/test_a.py::test_x".
std::string running_test_heading(const RunningTest& test);

}  // namespace bulkhead

// --progress: which progress a run shows (pytest's plain letters and percentages, or a live
// status line on a terminal), when the live line is redrawn (at most every 100 ms) and what it
// estimates (the ETA); and the keys typed on a terminal that is ours (`t`: the running tests'
// stacks).
#pragma once

#include <termios.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "src/report/live_line.h"
#include "src/report/terminal.h"

namespace bulkhead {

enum class ProgressMode { Plain, Line, Off };

// `auto`: `line` when `fd` is a terminal (not TERM=dumb, not on CI), else `plain`.
ProgressMode resolve_progress(const std::string& option, int fd);

class LiveProgress {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kInterval = std::chrono::milliseconds(100);

  LiveProgress(Terminal& terminal, bool enabled) : terminal_(terminal), enabled_(enabled) {}
  bool enabled() const { return enabled_; }

  // Once collected: which tests this run runs (empty: all) and their expected seconds (empty:
  // unknown, the ETA then follows the rate so far).
  void plan(std::vector<bool> selected, std::vector<double> expected_s, int workers,
            Clock::time_point start);
  void finished(std::size_t index);
  // When to draw next; nullopt when there is no line.
  std::optional<Clock::time_point> due() const;
  // Draws `status` (its ETA filled in here) when due. `running` are the running tests'
  // indices, parallel to status.running.
  void refresh(Clock::time_point now, LiveStatus status, const std::vector<std::size_t>& running);
  // Erases the line for good: the summary follows.
  void stop();

  // The ETA in seconds: the expected time of what is left over the workers that run it, or
  // without expectations the rate so far; nullopt when nothing is known yet.
  std::optional<double> eta(Clock::time_point now, std::size_t done, std::size_t total,
                            const std::vector<std::size_t>& running,
                            const std::vector<double>& running_elapsed) const;

 private:
  Terminal& terminal_;
  bool enabled_;
  bool planned_ = false;
  std::vector<bool> selected_;
  std::vector<double> expected_s_;
  std::vector<bool> finished_;
  double expected_left_s_ = 0;  // expected seconds of selected tests not finished
  int workers_ = 1;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

// Single keys typed on the terminal, while stdin is one and this process group is in its
// foreground: canonical mode and echo off (signals keys such as ^C still work), restored when
// destroyed. Inactive (fd() < 0) otherwise.
class TerminalKeys {
 public:
  explicit TerminalKeys(bool wanted);
  ~TerminalKeys();
  TerminalKeys(const TerminalKeys&) = delete;
  TerminalKeys& operator=(const TerminalKeys&) = delete;

  int fd() const { return active_ ? 0 : -1; }
  // What was typed; "" and inactive from then on when the terminal is no longer ours.
  std::string read();
  // After SIGCONT: a shell may have put its own modes back while we were stopped.
  void reapply();

 private:
  bool foreground() const;
  void restore();
  bool active_ = false;
  termios saved_{};
  termios ours_{};
};

}  // namespace bulkhead

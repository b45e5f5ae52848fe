// Progress mode, the live line's timing and ETA, and the terminal's keys (see progress.h).
#include "src/run/progress.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace bulkhead {

ProgressMode resolve_progress(const std::string& option, int fd) {
  if (option == "line") return ProgressMode::Line;
  if (option == "plain") return ProgressMode::Plain;
  if (option == "off") return ProgressMode::Off;
  const char* term = std::getenv("TERM");
  const bool dumb = term == nullptr || std::string(term) == "dumb";
  const bool ci = std::getenv("CI") != nullptr || std::getenv("BUILD_NUMBER") != nullptr;
  return ::isatty(fd) && !dumb && !ci ? ProgressMode::Line : ProgressMode::Plain;
}

void LiveProgress::plan(std::vector<bool> selected, std::vector<double> expected_s, int workers,
                        Clock::time_point start) {
  planned_ = true;
  selected_ = std::move(selected);
  expected_s_ = std::move(expected_s);
  workers_ = std::max(workers, 1);
  start_ = start;
  finished_.assign(expected_s_.size(), false);
  expected_left_s_ = 0;
  for (std::size_t i = 0; i < expected_s_.size(); ++i) {
    if (selected_.empty() || (i < selected_.size() && selected_[i])) {
      expected_left_s_ += expected_s_[i];
    }
  }
}

void LiveProgress::finished(std::size_t index) {
  if (index >= finished_.size() || finished_[index]) return;
  finished_[index] = true;
  if (selected_.empty() || (index < selected_.size() && selected_[index])) {
    expected_left_s_ -= expected_s_[index];
  }
}

std::optional<LiveProgress::Clock::time_point> LiveProgress::due() const {
  if (!enabled_ || !planned_) return std::nullopt;
  return last_draw_ + kInterval;
}

std::optional<double> LiveProgress::eta(Clock::time_point now, std::size_t done, std::size_t total,
                                        const std::vector<std::size_t>& running,
                                        const std::vector<double>& running_elapsed) const {
  if (done >= total) return std::nullopt;
  const std::size_t left = total - done;
  const double parallel = static_cast<double>(std::min<std::size_t>(workers_, left));
  if (!expected_s_.empty()) {
    // Running tests count with what they have left (at least nothing).
    double seconds = std::max(expected_left_s_, 0.0);
    for (std::size_t i = 0; i < running.size(); ++i) {
      if (running[i] >= expected_s_.size()) continue;
      seconds -= std::min(expected_s_[running[i]], running_elapsed[i]);
    }
    return std::max(seconds, 0.0) / parallel;
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (done == 0 || elapsed < 1) return std::nullopt;
  return elapsed * static_cast<double>(left) / static_cast<double>(done);
}

void LiveProgress::refresh(Clock::time_point now, LiveStatus status,
                           const std::vector<std::size_t>& running) {
  if (!enabled_ || !planned_ || now < last_draw_ + kInterval) return;
  last_draw_ = now;
  std::vector<double> elapsed;
  for (const RunningTest& test : status.running) elapsed.push_back(test.elapsed_s);
  status.eta_s = eta(now, status.done, status.total, running, elapsed);
  terminal_.show_live(live_line(status, terminal_width(STDOUT_FILENO)));
}

void LiveProgress::stop() {
  terminal_.hide_live();
  enabled_ = false;
}

TerminalKeys::TerminalKeys(bool wanted) {
  if (!wanted || !::isatty(STDIN_FILENO) || !foreground()) return;
  if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
  ours_ = saved_;
  ours_.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  ours_.c_cc[VMIN] = 1;
  ours_.c_cc[VTIME] = 0;
  active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &ours_) == 0;
}

TerminalKeys::~TerminalKeys() {
  if (active_) restore();
}

void TerminalKeys::restore() {
  // In the foreground or not, the modes go back (SIGTTOU ignored meanwhile: a background
  // process group changing them would be stopped).
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGTTOU, &ignore, &previous);
  ::tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_);
  ::sigaction(SIGTTOU, &previous, nullptr);
  active_ = false;
}

bool TerminalKeys::foreground() const { return ::tcgetpgrp(STDIN_FILENO) == ::getpgrp(); }

std::string TerminalKeys::read() {
  if (!active_) return "";
  char buffer[64];
  const ssize_t got = foreground() ? ::read(STDIN_FILENO, buffer, sizeof buffer) : -1;
  if (got <= 0) {  // end of input, or the terminal went to another process group
    if (got == 0 || !foreground()) restore();
    return "";
  }
  return std::string(buffer, static_cast<std::size_t>(got));
}

void TerminalKeys::reapply() {
  if (active_ && foreground()) ::tcsetattr(STDIN_FILENO, TCSANOW, &ours_);
}

}  // namespace bulkhead

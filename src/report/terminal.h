// pytest-like terminal output for `bulkhead run`: header, progress letters or verbose lines,
// live worker output (-s), failure sections with the worker-rendered tracebacks, the short
// test summary and pytest's closing line. Writes only; knows nothing of workers' processes.
#pragma once

#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/report/test_model.h"
#include "src/run/protocol.h"

namespace bulkhead {

// --color / PY_COLORS / NO_COLOR / FORCE_COLOR / isatty, in pytest's order of precedence.
bool decide_color(const std::string& color_option, int fd);
// The terminal's width (COLUMNS, then the tty), 80 when unknown, as pytest computes it.
int terminal_width(int fd);

struct TerminalOptions {
  bool color = false;
  int width = 80;
  int verbosity = 0;        // -v counts up, -q counts down
  bool percentages = true;  // the " [ 45%]" column (--progress off: pytest's classic style)
  std::optional<std::size_t> top_memory;  // --top-memory N (0: every test); unset: no section
};

// A test as the terminal shows it: its record plus per-phase display facts.
struct DisplayedTest {
  const TestRecord* record = nullptr;
  const std::vector<protocol::PhaseDisplay>* displays = nullptr;  // parallel to record->phases
};

struct WarningEntry {
  std::string nodeid;
  std::string message;
};

struct SummaryInput {
  std::vector<DisplayedTest> tests;  // in the order they finished
  std::vector<protocol::CollectReport> collect_reports;
  std::vector<WarningEntry> warnings;
  std::size_t deselected = 0;
  std::size_t not_run_shown = 0;  // NotRun tests to count in the closing line
  std::string interrupted;        // "stopping after 1 failures", "" when not interrupted
  std::vector<std::string> internal_errors;
  double duration_s = 0;
  std::string plugin_sections;  // what plugins add to pytest's terminal summary (coverage...)
  bool closing = true;          // false: the closing line is left to a later phase (--retries)
  // Counts after pytest's in the closing line ("flaky", "order-dependent"), in this order.
  std::vector<std::pair<std::string, std::size_t>> extra_counts;
  // Tests not in `tests`, only counted: their phases' categories, first-seen order. The
  // closing line and its colour count them as if they were in `tests`, after them.
  std::vector<std::pair<std::string, std::size_t>> folded;
  void add_folded(const std::string& category, std::size_t count);
  void fold(const TestRecord& test);  // adds its phases' categories
  // --top-memory: the tests with the highest peaks, highest first (top_memory_indices());
  // unset: `tests`.
  std::optional<std::vector<const TestRecord*>> memory_tests;
};

class Terminal {
 public:
  Terminal(std::FILE* out, TerminalOptions options) : out_(out), options_(options) {}

  // After the first collection: the worker's view of -r, --tb, --show-capture, -v/-q.
  void use_settings(const protocol::WorkerSettings& settings);
  const TerminalOptions& options() const { return options_; }
  bool quiet() const { return options_.verbosity < 0; }
  // Whether the short summary lists passed tests (-rp, -rA): then every test is shown.
  bool lists_passed() const { return reportchars_.find('p') != std::string::npos; }

  void separator(char fill, const std::string& title, const char* color = nullptr,
                 bool bold = false);
  void line(std::string_view text, const char* color = nullptr, bool bold = false);
  // pytest's header lines from plugins (`header`: rootdir, plugins...), "collected N items",
  // then the lines plugins add after it (`after`: run-last-failure...).
  void collected(std::size_t items, std::size_t deselected, std::size_t errors,
                 const std::vector<std::string>& header = {},
                 const std::vector<std::string>& after = {});

  // One test finished (normally or through a cause): its letters or verbose lines, then the
  // progress once the line is full. `done`/`total` count tests.
  void test_finished(const TestRecord& test, std::size_t done, std::size_t total);
  // -s: worker output as it arrives, each line prefixed "[gw1] ".
  void worker_output(const std::string& worker, std::string_view data, std::string& pending);

  // Everything from the ERRORS section to the closing line.
  void summary(const SummaryInput& input);
  // pytest's closing line alone: "=== 1 failed, 9 passed in 0.12s ===".
  void closing_line(const SummaryInput& input);

  std::string paint(std::string_view text, const char* color, bool bold = false) const;

  // --progress line: a live status line below pytest's output (src/report/live_line.h). What
  // is written next erases it first; show_live() draws it again, or redraws it in place.
  void show_live(const std::string& text);
  void hide_live();
  bool live_shown() const { return !live_.empty(); }

  // While held, writes stay in the stream's buffer until flush() (the supervisor's loop flushes
  // on a short tick instead of one write(2) per test); releasing the hold flushes.
  void hold_flushes(bool hold);
  bool unflushed() const { return unflushed_; }
  void flush();

 private:
  void put(std::string_view text);
  void end_progress_line();
  void write(std::string_view text);
  void write_progress(std::size_t done, std::size_t total, bool fill);
  void failure_sections(const SummaryInput& input);
  void short_summary(const SummaryInput& input);
  void warnings_summary(const SummaryInput& input);
  void top_memory_section(const SummaryInput& input);
  void phase_body(const PhaseReport& phase, const protocol::PhaseDisplay* display);
  const char* main_color(const SummaryInput& input) const;
  static std::vector<std::string> unknown_categories(const SummaryInput& input);

  std::FILE* out_;
  TerminalOptions options_;
  std::string tbstyle_ = "auto";
  std::string showcapture_ = "all";
  std::string reportchars_ = "fE";
  std::size_t line_width_ = 0;  // characters on the current progress line
  bool any_failed_ = false;
  std::string live_;  // the live line as drawn, "" when not on screen
  bool hold_ = false;
  bool unflushed_ = false;
};

}  // namespace bulkhead

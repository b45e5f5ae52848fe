// pytest-like terminal output (see terminal.h). Formats follow pytest 7's TerminalReporter:
// separators, progress percentages, the short summary and the closing line.
#include "src/report/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <tuple>

#include "src/report/leaks.h"
#include "src/report/outcome.h"
#include "src/report/top_memory.h"

namespace bulkhead {
namespace {

const char* kReset = "\x1b[0m";

const char* escape_for(const char* color) {
  static const std::map<std::string, const char*> codes = {
      {"red", "\x1b[31m"},  {"green", "\x1b[32m"},  {"yellow", "\x1b[33m"},
      {"cyan", "\x1b[36m"}, {"purple", "\x1b[35m"}, {"bold", "\x1b[1m"},
  };
  auto it = codes.find(color);
  return it == codes.end() ? "" : it->second;
}

const char* color_for_category(const std::string& category) {
  if (category == "failed" || category == "error" || category == "order-dependent") return "red";
  if (category == "passed") return "green";
  return "yellow";
}

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;  // code points, not bytes
  return width;
}

std::string percent(std::size_t done, std::size_t total) {
  const std::size_t value = total == 0 ? 100 : done * 100 / total;
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, " [%3zu%%]", value);
  return buffer;
}

std::string format_duration(double seconds) {
  char buffer[64];
  if (seconds < 60) {
    std::snprintf(buffer, sizeof buffer, "%.2fs", seconds);
  } else {
    const long whole = static_cast<long>(seconds);
    std::snprintf(buffer, sizeof buffer, "%.2fs (%ld:%02ld:%02ld)", seconds, whole / 3600,
                  whole / 60 % 60, whole % 60);
  }
  return buffer;
}

bool on_ci() { return std::getenv("CI") != nullptr || std::getenv("BUILD_NUMBER") != nullptr; }

// The word the short summary and verbose lines use for a test's failing phase.
std::string cause_word(const TestRecord& test, const PhaseReport& phase) {
  if (cause_phase_index(test) && &test.phases[*cause_phase_index(test)] == &phase) {
    switch (test.cause) {
      case Cause::Timeout:
        return "TIMEOUT";
      case Cause::Crash:
        return "CRASHED";
      case Cause::OOM:
        return "OOM";
      default:
        break;
    }
  }
  if (!phase.word.empty()) return phase.word;
  const std::string category = phase_category(phase);
  if (category == "failed") return "FAILED";
  if (category == "error") return "ERROR";
  return "";
}

std::string head_line_of(const std::string& nodeid, const protocol::PhaseDisplay* display) {
  if (display != nullptr && !display->head_line.empty()) return display->head_line;
  const auto split = nodeid.find("::");
  if (split == std::string::npos) return nodeid;
  std::string domain = nodeid.substr(split + 2);
  for (std::size_t at = domain.find("::"); at != std::string::npos; at = domain.find("::", at)) {
    domain.replace(at, 2, ".");
  }
  return domain;
}

const protocol::PhaseDisplay* display_at(const DisplayedTest& test, std::size_t phase) {
  if (test.displays == nullptr || phase >= test.displays->size()) return nullptr;
  return &(*test.displays)[phase];
}

}  // namespace

bool decide_color(const std::string& color_option, int fd) {
  if (color_option == "yes") return true;
  if (color_option == "no") return false;
  if (const char* py_colors = std::getenv("PY_COLORS")) {
    if (std::string(py_colors) == "1") return true;
    if (std::string(py_colors) == "0") return false;
  }
  if (const char* no_color = std::getenv("NO_COLOR"); no_color && *no_color) return false;
  if (const char* force = std::getenv("FORCE_COLOR"); force && *force) return true;
  const char* term = std::getenv("TERM");
  return ::isatty(fd) && !(term && std::string(term) == "dumb");
}

int terminal_width(int fd) {
  int width = 0;
  if (const char* columns = std::getenv("COLUMNS")) width = std::atoi(columns);
  if (width <= 0) {
    winsize size{};
    if (::ioctl(fd, TIOCGWINSZ, &size) == 0) width = size.ws_col;
  }
  return width < 40 ? 80 : width;
}

void Terminal::use_settings(const protocol::WorkerSettings& settings) {
  if (!settings.tbstyle.empty()) tbstyle_ = settings.tbstyle;
  if (!settings.showcapture.empty()) showcapture_ = settings.showcapture;
  reportchars_ = settings.reportchars;
  options_.verbosity = settings.verbose;
}

std::string Terminal::paint(std::string_view text, const char* color, bool bold) const {
  if (!options_.color || (color == nullptr && !bold)) return std::string(text);
  std::string out;
  if (color != nullptr) out += escape_for(color);
  if (bold) out += escape_for("bold");
  out.append(text);
  out += kReset;
  return out;
}

void Terminal::put(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  if (hold_) {
    unflushed_ = true;
  } else {
    std::fflush(out_);
  }
}

void Terminal::hold_flushes(bool hold) {
  hold_ = hold;
  if (!hold) flush();
}

void Terminal::flush() {
  if (!unflushed_) return;
  std::fflush(out_);
  unflushed_ = false;
}

void Terminal::write(std::string_view text) {
  hide_live();
  put(text);
}

// The live line sits on the row below pytest's output; a progress line still being filled
// (letters) stays on its own row above it, the cursor at its end between draws.
void Terminal::show_live(const std::string& text) {
  if (text == live_) return;
  std::string out = live_.empty() ? (line_width_ > 0 ? "\n" : "") : "\r\x1b[K";
  out += text;
  put(out);
  live_ = text;
}

void Terminal::hide_live() {
  if (live_.empty()) return;
  std::string out = "\r\x1b[K";  // erase the live row
  if (line_width_ > 0) out += "\x1b[A\x1b[" + std::to_string(line_width_ + 1) + "G";
  put(out);
  live_.clear();
}

void Terminal::end_progress_line() {
  if (line_width_ == 0) return;
  write("\n");
  line_width_ = 0;
}

void Terminal::line(std::string_view text, const char* color, bool bold) {
  end_progress_line();
  write(paint(text, color, bold) + "\n");
}

void Terminal::separator(char fill, const std::string& title, const char* color, bool bold) {
  const int width = options_.width;
  std::string text;
  if (title.empty()) {
    text.assign(static_cast<std::size_t>(width), fill);
  } else {
    const int title_width = static_cast<int>(display_width(title));
    const int count = std::max((width - title_width - 2) / 2, 1);
    const std::string side(static_cast<std::size_t>(count), fill);
    text = side + " " + title + " " + side;
    if (static_cast<int>(display_width(text)) + 1 <= width) text += fill;
  }
  line(text, color, bold);
}

void Terminal::collected(std::size_t items, std::size_t deselected, std::size_t errors,
                         const std::vector<std::string>& header,
                         const std::vector<std::string>& after) {
  if (quiet()) return;
  for (const std::string& text : header) line(text);
  std::string text = "collected " + std::to_string(items + deselected) +
                     (items + deselected == 1 ? " item" : " items");
  if (errors > 0) text += " / " + std::to_string(errors) + (errors == 1 ? " error" : " errors");
  if (deselected > 0) {
    text +=
        " / " + std::to_string(deselected) + " deselected / " + std::to_string(items) + " selected";
  }
  line(text, nullptr, true);
  for (const std::string& text : after) line(text);
  line("");
}

void Terminal::write_progress(std::size_t done, std::size_t total, bool fill) {
  if (!options_.percentages) {
    write("\n");
    line_width_ = 0;
    return;
  }
  const char* color = any_failed_ ? "red" : "green";
  std::string text = percent(done, total);
  if (fill) {
    const int pad = options_.width - static_cast<int>(line_width_) - 1;
    if (pad > static_cast<int>(text.size())) {
      text.insert(0, static_cast<std::size_t>(pad) - text.size(), ' ');
    }
  }
  write(paint(text, color) + "\n");
  line_width_ = 0;
}

void Terminal::test_finished(const TestRecord& test, std::size_t done, std::size_t total) {
  for (const PhaseReport& phase : test.phases) {
    const std::string category = phase_category(phase);
    if (category == "failed" || category == "error") any_failed_ = true;
  }
  if (options_.verbosity < -1) return;
  if (options_.verbosity > 0) {
    for (const PhaseReport& phase : test.phases) {
      const std::string word = cause_word(test, phase);
      if (word.empty()) continue;
      end_progress_line();
      const std::string plain = "[" + test.worker + "] " + word + " " + test.nodeid;
      write("[" + test.worker + "] " + paint(word, color_for_category(phase_category(phase))) +
            " " + test.nodeid);
      line_width_ = display_width(plain);
      write_progress(done, total, true);
    }
    return;
  }
  for (const PhaseReport& phase : test.phases) {
    std::string letter = phase.letter;
    if (letter.empty() && is_interrupting(test.cause)) {
      const std::string category = phase_category(phase);
      if (category == "failed") letter = "F";
      if (category == "error") letter = "E";
    }
    if (letter.empty()) continue;
    write(paint(letter, color_for_category(phase_category(phase))));
    line_width_ += display_width(letter);
  }
  const std::size_t progress_length = 7;  // " [100%]"
  if (done == total) {
    write_progress(done, total, true);
  } else if (line_width_ + progress_length + 1 >= static_cast<std::size_t>(options_.width)) {
    write_progress(done, total, false);
  }
}

void Terminal::worker_output(const std::string& worker, std::string_view data,
                             std::string& pending) {
  pending.append(data);
  std::size_t begin = 0;
  for (std::size_t newline = pending.find('\n'); newline != std::string::npos;
       newline = pending.find('\n', begin)) {
    end_progress_line();
    write("[" + worker + "] " + pending.substr(begin, newline - begin + 1));
    begin = newline + 1;
  }
  pending.erase(0, begin);
}

void Terminal::phase_body(const PhaseReport& phase, const protocol::PhaseDisplay* display) {
  std::string body = options_.color && display && !display->longrepr_color.empty()
                         ? display->longrepr_color
                         : phase.longrepr;
  if (!body.empty() && body.back() == '\n') body.pop_back();
  line(body);
  if (showcapture_ == "no") return;
  for (const auto& [title, content] : phase.sections) {
    if (showcapture_ != "all" && title.find(showcapture_) == std::string::npos) continue;
    separator('-', title);
    std::string text = content;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    line(text);
  }
}

void Terminal::failure_sections(const SummaryInput& input) {
  if (tbstyle_ == "no") return;
  // ERRORS: collection errors, then setup/teardown errors in the order tests finished.
  bool errors_header = false;
  auto errors_title = [&] {
    if (!errors_header) separator('=', "ERRORS");
    errors_header = true;
  };
  for (const protocol::CollectReport& report : input.collect_reports) {
    if (phase_category(report.report.phase) != "error") continue;
    errors_title();
    separator('_', "ERROR collecting " + head_line_of(report.nodeid, &report.report.display), "red",
              true);
    phase_body(report.report.phase, &report.report.display);
  }
  for (const DisplayedTest& test : input.tests) {
    for (std::size_t i = 0; i < test.record->phases.size(); ++i) {
      const PhaseReport& phase = test.record->phases[i];
      if (phase_category(phase) != "error") continue;
      errors_title();
      separator('_',
                "ERROR at " + phase.when + " of " +
                    head_line_of(test.record->nodeid, display_at(test, i)),
                "red", true);
      phase_body(phase, display_at(test, i));
    }
  }
  bool failures_header = false;
  for (const DisplayedTest& test : input.tests) {
    for (std::size_t i = 0; i < test.record->phases.size(); ++i) {
      const PhaseReport& phase = test.record->phases[i];
      if (phase_category(phase) != "failed") continue;
      if (!failures_header) separator('=', "FAILURES");
      failures_header = true;
      if (tbstyle_ == "line") {
        std::string text = phase.longrepr;
        if (!text.empty() && text.back() == '\n') text.pop_back();
        line(text);
        continue;
      }
      separator('_', head_line_of(test.record->nodeid, display_at(test, i)), "red", true);
      phase_body(phase, display_at(test, i));
      // pytest shows a passing teardown's captured output after the failure.
      for (const PhaseReport& other : test.record->phases) {
        if (other.when != "teardown" || showcapture_ == "no") continue;
        for (const auto& [title, content] : other.sections) {
          if (title.find("teardown") == std::string::npos) continue;
          if (showcapture_ != "all" && title.find(showcapture_) == std::string::npos) continue;
          separator('-', title);
          std::string text = content;
          if (!text.empty() && text.back() == '\n') text.pop_back();
          line(text);
        }
      }
    }
  }
}

void Terminal::warnings_summary(const SummaryInput& input) {
  if (input.warnings.empty() || reportchars_.find('w') == std::string::npos) return;
  separator('=', "warnings summary", "yellow");
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> locations;
  for (const WarningEntry& warning : input.warnings) {
    auto [it, inserted] = locations.try_emplace(warning.message);
    if (inserted) order.push_back(warning.message);
    if (!warning.nodeid.empty()) it->second.push_back(warning.nodeid);
  }
  for (const std::string& message : order) {
    const auto& where = locations[message];
    std::string text;
    if (!where.empty()) {
      if (where.size() < 10) {
        for (const std::string& nodeid : where) line(nodeid);
      } else {
        std::vector<std::string> files;
        std::map<std::string, int> per_file;
        for (const std::string& nodeid : where) {
          const std::string file = nodeid.substr(0, nodeid.find("::"));
          if (per_file[file]++ == 0) files.push_back(file);
        }
        for (const std::string& file : files) {
          const int count = per_file[file];
          line(file + ": " + std::to_string(count) + (count > 1 ? " warnings" : " warning"));
        }
      }
      std::size_t begin = 0;
      while (begin < message.size()) {
        std::size_t end = message.find('\n', begin);
        if (end == std::string::npos) end = message.size();
        text += "  " + message.substr(begin, end - begin) + "\n";
        begin = end + 1;
      }
    } else {
      text = message;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    line(text);
    line("");
  }
  line("-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html");
}

void Terminal::short_summary(const SummaryInput& input) {
  std::vector<std::string> lines;
  auto with_message = [&](const std::string& word, const char* color, const std::string& nodeid,
                          const std::string& message) {
    std::string text = paint(word, color) + " " + nodeid;
    const std::size_t width = display_width(word) + 1 + display_width(nodeid);
    if (!message.empty()) {
      if (on_ci()) {
        text += " - " + message;
      } else {
        std::string first = message.substr(0, message.find('\n'));
        const long available = static_cast<long>(options_.width) - static_cast<long>(width);
        if (3 + 3 <= available) {
          if (3 + static_cast<long>(display_width(first)) > available) {
            // Keep what fits beside " - " and "...", whole characters only.
            const long keep = available - 6;
            std::string cut;
            long kept = 0;
            for (char c : first) {
              const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
              if (starts_char && ++kept > keep) break;
              cut += c;
            }
            first = cut + "...";
          }
          text += " - " + first;
        }
      }
    }
    lines.push_back(text);
  };
  auto simple = [&](const std::string& category) {
    for (const DisplayedTest& test : input.tests) {
      for (const PhaseReport& phase : test.record->phases) {
        if (phase_category(phase) != category) continue;
        with_message(cause_word(*test.record, phase), "red", test.record->nodeid, phase.message);
      }
    }
    if (category == "error") {
      for (const protocol::CollectReport& report : input.collect_reports) {
        if (phase_category(report.report.phase) == "error") {
          with_message("ERROR", "red", report.nodeid, report.report.phase.message);
        }
      }
    }
  };
  for (char chosen : reportchars_) {
    switch (chosen) {
      case 'f':
        simple("failed");
        break;
      case 'E':
        simple("error");
        break;
      case 'p':
        for (const DisplayedTest& test : input.tests) {
          for (const PhaseReport& phase : test.record->phases) {
            if (phase_category(phase) == "passed") {
              lines.push_back(paint("PASSED", "green") + " " + test.record->nodeid);
            }
          }
        }
        break;
      case 'x':
        for (const DisplayedTest& test : input.tests) {
          for (const PhaseReport& phase : test.record->phases) {
            if (phase_category(phase) != "xfailed") continue;
            std::string text = paint("XFAIL", "yellow") + " " + test.record->nodeid;
            if (!phase.wasxfail.empty()) text += " - " + phase.wasxfail;
            lines.push_back(text);
          }
        }
        break;
      case 'X':
        for (const DisplayedTest& test : input.tests) {
          for (const PhaseReport& phase : test.record->phases) {
            if (phase_category(phase) != "xpassed") continue;
            lines.push_back(paint("XPASS", "yellow") + " " + test.record->nodeid + " " +
                            phase.wasxfail);
          }
        }
        break;
      case 's': {
        // Folded as pytest folds them: same file, line and reason count once.
        std::vector<std::tuple<std::string, std::optional<long>, std::string>> keys;
        std::map<std::tuple<std::string, std::optional<long>, std::string>, int> counts;
        auto add = [&](const PhaseReport& phase, const protocol::PhaseDisplay* display) {
          if (phase_category(phase) != "skipped" || display == nullptr) return;
          auto key = std::make_tuple(display->skip_path, display->skip_lineno, phase.message);
          if (counts[key]++ == 0) keys.push_back(key);
        };
        for (const protocol::CollectReport& report : input.collect_reports) {
          add(report.report.phase, &report.report.display);
        }
        for (const DisplayedTest& test : input.tests) {
          for (std::size_t i = 0; i < test.record->phases.size(); ++i) {
            add(test.record->phases[i], display_at(test, i));
          }
        }
        for (const auto& key : keys) {
          const auto& [path, lineno, reason] = key;
          std::string text =
              paint("SKIPPED", "yellow") + " [" + std::to_string(counts[key]) + "] " + path;
          if (lineno) text += ":" + std::to_string(*lineno);
          lines.push_back(text + ": " + reason);
        }
        break;
      }
      default:
        break;
    }
  }
  for (const DisplayedTest& test : input.tests) {
    if (test.record->cause == Cause::NotRun && input.not_run_shown > 0) {
      with_message("NOTRUN", "yellow", test.record->nodeid, test.record->cause_message);
    }
  }
  for (const DisplayedTest& test : input.tests) {
    if (std::vector<std::string> leaks = leaks_of(*test.record); !leaks.empty()) {
      lines.push_back(paint("LEAKED", "yellow") + " " + test.record->nodeid + " - " +
                      leaks_joined(leaks));
    }
  }
  if (lines.empty()) return;
  separator('=', "short test summary info", "cyan", true);
  for (const std::string& text : lines) line(text);
}

// Categories plugins report beyond pytest's own (pytest-rerunfailures' "rerun"), first-seen.
std::vector<std::string> Terminal::unknown_categories(const SummaryInput& input) {
  static const std::vector<std::string> builtin = {"failed",  "passed",  "skipped",  "deselected",
                                                   "xfailed", "xpassed", "warnings", "error"};
  std::vector<std::string> out;
  auto add = [&](const std::string& category) {
    if (category.empty() || std::find(builtin.begin(), builtin.end(), category) != builtin.end() ||
        std::find(out.begin(), out.end(), category) != out.end()) {
      return;
    }
    out.push_back(category);
  };
  for (const DisplayedTest& test : input.tests) {
    for (const PhaseReport& phase : test.record->phases) add(phase_category(phase));
  }
  for (const auto& [category, count] : input.folded) add(category);
  return out;
}

const char* Terminal::main_color(const SummaryInput& input) const {
  bool failed = false, passed = false;
  bool warned = !input.warnings.empty() || input.not_run_shown > 0 ||
                !unknown_categories(input).empty() || !input.extra_counts.empty();
  auto note = [&](const std::string& category) {
    if (category == "failed" || category == "error") failed = true;
    if (category == "xpassed") warned = true;
    if (category == "passed") passed = true;
  };
  for (const DisplayedTest& test : input.tests) {
    for (const PhaseReport& phase : test.record->phases) note(phase_category(phase));
  }
  for (const auto& [category, count] : input.folded) {
    if (count > 0) note(category);
  }
  for (const protocol::CollectReport& report : input.collect_reports) {
    if (phase_category(report.report.phase) == "error") failed = true;
  }
  if (failed) return "red";
  if (warned) return "yellow";
  return passed ? "green" : "yellow";
}

void Terminal::closing_line(const SummaryInput& input) {
  if (options_.verbosity < -1) return;
  std::map<std::string, std::size_t> counts;
  for (const DisplayedTest& test : input.tests) {
    for (const PhaseReport& phase : test.record->phases) {
      const std::string category = phase_category(phase);
      if (!category.empty()) ++counts[category];
    }
  }
  for (const auto& [category, count] : input.folded) counts[category] += count;
  for (const protocol::CollectReport& report : input.collect_reports) {
    const std::string category = phase_category(report.report.phase);
    if (!category.empty()) ++counts[category];
  }
  counts["deselected"] = input.deselected;
  counts["warnings"] = input.warnings.size();
  counts["not run"] = input.not_run_shown;
  for (const auto& [key, count] : input.extra_counts) counts[key] = count;
  const char* color = main_color(input);
  std::string plain;
  std::string painted;
  // pytest's known categories, then the ones plugins add ("rerun", "subtests passed") in the
  // order they first appear, then ours.
  std::vector<std::string> keys = {"failed",  "passed",  "skipped",  "deselected",
                                   "xfailed", "xpassed", "warnings", "error"};
  for (const std::string& category : unknown_categories(input)) keys.push_back(category);
  keys.push_back("not run");
  for (const auto& extra : input.extra_counts) keys.push_back(extra.first);
  for (const std::string& key : keys) {
    const std::size_t count = counts[key];
    if (count == 0) continue;
    std::string noun = key;
    if (noun == "error" && count != 1) noun = "errors";
    if (noun == "warnings" && count == 1) noun = "warning";
    const std::string part = std::to_string(count) + " " + noun;
    const char* part_color = color_for_category(key);
    if (!plain.empty()) {
      plain += ", ";
      painted += ", ";
    }
    plain += part;
    painted += paint(part, part_color, std::string(part_color) == color);
  }
  if (plain.empty()) {
    plain = "no tests ran";
    painted = paint(plain, "yellow");
  }
  const std::string duration = " in " + format_duration(input.duration_s);
  plain += duration;
  painted += paint(duration, color);
  if (options_.verbosity < 0) {
    line(painted);
    return;
  }
  const int width = options_.width;
  const int count = std::max((width - static_cast<int>(display_width(plain)) - 2) / 2, 1);
  const std::string side(static_cast<std::size_t>(count), '=');
  std::string tail = side;
  if (static_cast<int>(display_width(side + " " + plain + " " + side)) + 1 <= width) tail += '=';
  line(paint(side + " ", color) + painted + paint(" " + tail, color));
}

// --top-memory N: where pytest prints --durations, after the warnings.
void Terminal::top_memory_section(const SummaryInput& input) {
  if (!options_.top_memory) return;
  std::vector<const TestRecord*> tests;
  if (input.memory_tests) {
    tests = *input.memory_tests;
  } else {
    for (const DisplayedTest& test : input.tests) tests.push_back(test.record);
  }
  const TopMemory section = top_memory(tests, *options_.top_memory);
  separator('=', section.title);
  for (const std::string& text : section.lines) line(text);
}

void SummaryInput::add_folded(const std::string& category, std::size_t count) {
  if (category.empty() || count == 0) return;
  for (auto& [known, total] : folded) {
    if (known == category) {
      total += count;
      return;
    }
  }
  folded.emplace_back(category, count);
}

void SummaryInput::fold(const TestRecord& test) {
  for (const PhaseReport& phase : test.phases) add_folded(phase_category(phase), 1);
}

void Terminal::summary(const SummaryInput& input) {
  end_progress_line();
  failure_sections(input);
  warnings_summary(input);
  if (!input.plugin_sections.empty()) {
    write(input.plugin_sections);
    if (input.plugin_sections.back() != '\n') write("\n");
  }
  top_memory_section(input);
  short_summary(input);
  for (const std::string& error : input.internal_errors) {
    line("INTERNALERROR> " + error, "red");
  }
  if (!input.interrupted.empty()) separator('!', input.interrupted, "red");
  if (input.closing) closing_line(input);
}

}  // namespace bulkhead

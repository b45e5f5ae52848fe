// The live status line's text (see live_line.h).
#include "src/report/live_line.h"

#include <cmath>
#include <cstdio>

namespace bulkhead {
namespace {

std::size_t columns(const std::string& text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;  // code points, not bytes
  return width;
}

// The last `keep` columns of `text` after "...", on a code point boundary.
std::string keep_tail(const std::string& text, std::size_t keep) {
  if (columns(text) <= keep) return text;
  if (keep <= 3) return std::string(keep, '.');
  std::size_t drop = columns(text) - (keep - 3);
  std::size_t at = 0;
  while (at < text.size() && drop > 0) {
    ++at;
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
    --drop;
  }
  return "..." + text.substr(at);
}

// The first `keep` columns of `text`, on a code point boundary.
std::string keep_head(const std::string& text, std::size_t keep) {
  std::size_t at = 0;
  for (std::size_t kept = 0; at < text.size(); ++at) {
    if ((static_cast<unsigned char>(text[at]) & 0xC0) != 0x80 && kept++ == keep) break;
  }
  return text.substr(0, at);
}

// The test's name without its file and classes: what is left after the last "::" outside
// the parameters.
std::string short_name(const std::string& nodeid) {
  const std::size_t params = nodeid.find('[');
  const std::size_t split = nodeid.rfind("::", params == std::string::npos ? params : params - 1);
  return split == std::string::npos ? nodeid : nodeid.substr(split + 2);
}

std::string entry(const RunningTest& test, bool full) {
  return (full ? test.nodeid : short_name(test.nodeid)) + " " + short_duration(test.elapsed_s) +
         " (" + test.worker + ")";
}

// "a, b, c" with as many entries as fit `budget` columns, then "+N more".
std::string listing(const std::vector<RunningTest>& running, std::size_t budget) {
  for (bool full : {true, false}) {
    std::string all;
    for (const RunningTest& test : running) all += (all.empty() ? "" : ", ") + entry(test, full);
    if (columns(all) <= budget) return all;
  }
  std::string text;
  for (std::size_t i = 0; i < running.size(); ++i) {
    const std::string more = ", +" + std::to_string(running.size() - i) + " more";
    const std::string next = (text.empty() ? "" : ", ") + entry(running[i], false);
    const std::string rest = i + 1 == running.size() ? "" : more;
    if (columns(text + next + rest) > budget) {
      if (text.empty()) return keep_tail(entry(running[i], false), budget);
      return text + more;
    }
    text += next;
  }
  return text;
}

}  // namespace

std::string short_duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  char buffer[32];
  if (seconds < 10) {
    std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
  } else if (seconds < 60) {
    std::snprintf(buffer, sizeof buffer, "%.0fs", std::floor(seconds));
  } else if (seconds < 3600) {
    const long whole = static_cast<long>(seconds);
    std::snprintf(buffer, sizeof buffer, "%ldm%02lds", whole / 60, whole % 60);
  } else {
    const long whole = static_cast<long>(seconds);
    std::snprintf(buffer, sizeof buffer, "%ldh%02ldm", whole / 3600, whole / 60 % 60);
  }
  return buffer;
}

std::string live_line(const LiveStatus& status, int width) {
  const std::size_t limit = width > 1 ? static_cast<std::size_t>(width - 1) : 0;
  const std::size_t percent = status.total == 0 ? 100 : status.done * 100 / status.total;
  char head[64];
  std::snprintf(head, sizeof head, "[%3zu%%] %zu/%zu", percent, status.done, status.total);
  std::string text = head;
  if (status.failed) text += " failed";
  // At the tail the running tests' own times say more than an estimate.
  if (status.eta_s && !status.queue_empty) text += " | ETA " + short_duration(*status.eta_s);
  if (!status.running.empty()) {
    std::string lead;
    if (status.queue_empty) {
      lead = " | waiting on " + std::to_string(status.running.size()) + ": ";
    } else {
      lead = " | " + std::to_string(status.running.size()) + " running, longest ";
    }
    if (columns(text + lead) + 8 <= limit) {
      const std::size_t budget = limit - columns(text + lead);
      if (status.queue_empty) {
        text += lead + listing(status.running, budget);
      } else {
        text += lead + listing({status.running.front()}, budget);
      }
    } else {
      text += " | " + std::to_string(status.running.size()) + " running";
    }
  }
  return keep_head(text, limit);
}

std::string running_test_heading(const RunningTest& test) {
  return test.worker + " " + test.nodeid + " (running for " + short_duration(test.elapsed_s) + ")";
}

}  // namespace bulkhead

// Overall outcomes, pytest-style counts and cause bookkeeping over TestRecord (see outcome.h),
// plus the atomic file write the report writers share.
#include "src/report/outcome.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "sandbox/error.h"
#include "src/report/atomic_file.h"

namespace bulkhead {

namespace {

// The key record_cause() puts in a phase's `raw` (workers never send it).
constexpr const char* kCauseMarker = "bulkhead_cause";

}  // namespace

std::string phase_category(const PhaseReport& phase) {
  if (!phase.category.empty()) return phase.category;
  const bool in_call = phase.when == "call";
  if (phase.outcome == "failed") return in_call ? "failed" : "error";
  if (phase.outcome == "skipped") return phase.wasxfail.empty() ? "skipped" : "xfailed";
  if (phase.outcome == "passed" && in_call) return phase.wasxfail.empty() ? "passed" : "xpassed";
  return "";
}

bool has_failure(const TestRecord& test) {
  for (const PhaseReport& phase : test.phases) {
    const std::string category = phase_category(phase);
    if (category == "failed" || category == "error") return true;
  }
  return false;
}

bool any_failure(const std::vector<TestRecord>& tests) {
  return std::any_of(tests.begin(), tests.end(), has_failure);
}

std::string overall_outcome(const TestRecord& test) {
  if (test.cause == Cause::NotRun || test.phases.empty()) return "notrun";
  bool error = false;
  std::string result;
  for (const PhaseReport& phase : test.phases) {
    const std::string category = phase_category(phase);
    if (category == "failed") return "failed";
    if (category == "error") error = true;
    // The call decides; a setup that skips (or xfails) has no call after it.
    if (!category.empty() && (phase.when == "call" || result.empty())) result = category;
  }
  if (error) return "error";
  return result.empty() ? "passed" : result;
}

OutcomeCounts count_outcomes(const std::vector<TestRecord>& tests) {
  OutcomeCounts counts;
  for (const TestRecord* test : unique_records(tests)) count_outcome(counts, *test);
  return counts;
}

void count_outcome(OutcomeCounts& counts, const TestRecord& test) {
  ++counts.tests;
  switch (test.cause) {
    case Cause::Timeout:
      ++counts.timeout;
      break;
    case Cause::Crash:
      ++counts.crash;
      break;
    case Cause::OOM:
      ++counts.oom;
      break;
    case Cause::NotRun:
      ++counts.notrun;
      return;
    case Cause::None:
      break;
  }
  if (test.phases.empty()) {
    if (test.cause == Cause::None) ++counts.notrun;
    return;
  }
  for (const PhaseReport& phase : test.phases) {
    const std::string category = phase_category(phase);
    if (category == "passed")
      ++counts.passed;
    else if (category == "failed")
      ++counts.failed;
    else if (category == "error")
      ++counts.error;
    else if (category == "skipped")
      ++counts.skipped;
    else if (category == "xfailed")
      ++counts.xfailed;
    else if (category == "xpassed")
      ++counts.xpassed;
  }
}

bool is_interrupting(Cause cause) {
  return cause == Cause::Timeout || cause == Cause::Crash || cause == Cause::OOM;
}

std::string interrupted_when(const TestRecord& test) {
  // Phases before the cause's own phase are what the worker reported.
  std::size_t reported = test.phases.size();
  if (auto own = cause_phase_index(test)) reported = *own;
  bool setup = false;
  bool call = false;
  for (std::size_t i = 0; i < reported; ++i) {
    setup = setup || test.phases[i].when == "setup";
    call = call || test.phases[i].when == "call";
  }
  if (!setup) return "setup";
  if (!call) return "call";
  return "teardown";
}

std::optional<std::size_t> cause_phase_index(const TestRecord& test) {
  if (!is_interrupting(test.cause)) return std::nullopt;
  for (std::size_t i = test.phases.size(); i-- > 0;) {
    const nlohmann::json& raw = test.phases[i].raw;
    if (raw.is_object() && raw.contains(kCauseMarker)) return i;
  }
  return std::nullopt;
}

void record_cause(TestRecord& test, Cause cause, std::string message, std::string details,
                  double start, double duration) {
  test.cause = cause;
  test.finished = true;
  if (is_interrupting(cause)) {
    PhaseReport phase;
    phase.when = interrupted_when(test);
    const bool in_call = phase.when == "call";
    phase.outcome = "failed";
    phase.category = in_call ? "failed" : "error";
    phase.letter = in_call ? "F" : "E";
    phase.word = in_call ? "FAILED" : "ERROR";
    phase.start = start;
    phase.duration = duration;
    phase.stop = start + duration;
    phase.longrepr = details.empty() ? message : std::move(details);
    phase.message = message;
    phase.raw = {{kCauseMarker, cause_name(cause)}};
    test.phases.push_back(std::move(phase));
  }
  test.cause_message = std::move(message);
}

std::vector<const TestRecord*> unique_records(const std::vector<TestRecord>& tests) {
  std::vector<const TestRecord*> out;
  out.reserve(tests.size());
  // Index -> position in `out` of the first record with that index; a clash on the index
  // with another node id is a different test and is kept.
  std::unordered_map<std::size_t, std::size_t> first;
  first.reserve(tests.size());
  for (const TestRecord& test : tests) {
    auto [it, inserted] = first.try_emplace(test.index, out.size());
    if (!inserted && out[it->second]->nodeid == test.nodeid) {
      out[it->second] = &test;
      continue;
    }
    out.push_back(&test);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> merged_sections(const TestRecord& test) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const PhaseReport& phase : test.phases) {
    for (const auto& [title, content] : phase.sections) {
      auto it = out.begin();
      while (it != out.end() && it->first != title) ++it;
      if (it == out.end()) {
        out.emplace_back(title, content);
      } else {
        it->second = content;
      }
    }
  }
  return out;
}

std::size_t utf8_decode(std::string_view s, std::size_t i, char32_t& code) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned b = byte(i);
  if (b < 0x80) {
    code = b;
    return 1;
  }
  std::size_t len = 0;
  unsigned lo = 0x80;
  unsigned hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;  // no overlong forms
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  char32_t c = b & (0xFFu >> (len + 1));
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  code = c;
  return len;
}

void write_file_atomically(const std::string& path, std::string_view data) {
  AtomicFile file(path);
  file.write(data);
  file.commit();
}

}  // namespace bulkhead

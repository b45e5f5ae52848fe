// Pure helpers over TestRecord shared by the report writers and the terminal output: a test's
// overall outcome, pytest-style counts, where a timeout/crash/OOM struck, and recording one.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead {

// The category of one phase as pytest's terminal counts it: the worker's `category` when set;
// else derived from `when`/`outcome` ("failed" in setup/teardown is "error"); "" for a passed
// setup or teardown (not counted).
std::string phase_category(const PhaseReport& phase);

// A test's single overall outcome: "failed" when its call failed; else "error" when setup or
// teardown failed; else the call's (or a skipping setup's) category: "passed", "skipped",
// "xfailed", "xpassed"; "notrun" for Cause::NotRun or a test without any phase. A timeout,
// crash or OOM counts through the phase record_cause() added ("failed" in call, else "error").
std::string overall_outcome(const TestRecord& test);

// Whether any phase of any test counts as "failed" or "error" (the run then exits 1).
bool any_failure(const std::vector<TestRecord>& tests);
bool has_failure(const TestRecord& test);  // the same for one test

// Counts as pytest's final line makes them: one per phase category ("passed" 1 per passing
// call, a failing call plus an erroring teardown count 1 failed and 1 error), plus per-test
// counts of our causes. `tests` is the number of records.
struct OutcomeCounts {
  std::size_t tests = 0;
  std::size_t passed = 0;
  std::size_t failed = 0;
  std::size_t error = 0;
  std::size_t skipped = 0;
  std::size_t xfailed = 0;
  std::size_t xpassed = 0;
  std::size_t notrun = 0;   // Cause::NotRun, or no phase at all
  std::size_t timeout = 0;  // Cause::Timeout (also counted as failed or error)
  std::size_t crash = 0;    // Cause::Crash (idem)
  std::size_t oom = 0;      // Cause::OOM (idem)
};
OutcomeCounts count_outcomes(const std::vector<TestRecord>& tests);
void count_outcome(OutcomeCounts& counts, const TestRecord& test);  // adds one test

// True for the causes that end a running test: Timeout, Crash, OOM.
bool is_interrupting(Cause cause);

// Where an interrupting cause struck: the first of "setup", "call", "teardown" the worker had
// not reported before it (workers report each phase as it ends).
std::string interrupted_when(const TestRecord& test);

// Index into test.phases of the phase record_cause() added for the test's cause, or nullopt
// (no interrupting cause, or the supervisor set the cause without record_cause()).
std::optional<std::size_t> cause_phase_index(const TestRecord& test);

// How the supervisor records that a test ended by `cause`. Sets cause, cause_message and
// finished. For Timeout/Crash/OOM it also appends a failed phase for interrupted_when() with
// category "failed" (call) or "error" (setup/teardown), message = `message`, longrepr =
// `details` (a stack dump, the exit status...) or `message` when empty, duration = `duration`
// (seconds), and marks it in `raw` so cause_phase_index() finds it. NotRun adds no phase.
void record_cause(TestRecord& test, Cause cause, std::string message, std::string details = {},
                  double start = 0, double duration = 0);

// The records to report, in order, each test once: a second record with the same index and
// node id replaces the first in its position.
std::vector<const TestRecord*> unique_records(const std::vector<TestRecord>& tests);

// Captured output of a test merged across its phases: pytest repeats earlier phases'
// sections in later reports, so a section title ("Captured stdout call") appears once, with
// its latest content, in first-seen order.
std::vector<std::pair<std::string, std::string>> merged_sections(const TestRecord& test);

// Decodes the UTF-8 sequence at s[i]: returns its length (1-4) and sets `code`, or returns 0
// for invalid UTF-8 there (overlong forms, surrogates, truncation, stray bytes).
std::size_t utf8_decode(std::string_view s, std::size_t i, char32_t& code);

// Writes `data` to `path` via `path`.tmp and rename(2), so readers never see half a report.
// Throws SysError naming the path. (The one function here with I/O.)
void write_file_atomically(const std::string& path, std::string_view data);

}  // namespace bulkhead

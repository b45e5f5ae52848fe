// The end of a run: tests that never ran, the terminal summary and the exit code.
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "src/report/outcome.h"
#include "src/report/top_memory.h"
#include "src/run/collection_check.h"
#include "src/run/progress.h"
#include "src/run/stack_request.h"
#include "src/run/supervisor_loop.h"
#include "src/run/supervisor_slot.h"
#include "src/run/worker_fate.h"
#include "src/run/zygote.h"

namespace bulkhead {
using namespace supervisor_detail;

// -- the end -------------------------------------------------------------------------------

RunResult Supervisor::Loop::finish() {
  progress_.stop();
  const std::vector<std::string>& missing = sandbox_.isolation().missing;
  for (std::size_t i = isolation_said_; i < missing.size(); ++i) {
    terminal_.line("isolation missing: " + missing[i], "yellow");
  }
  RunResult result;
  if (reference_) {
    result.worker_settings = reference_->settings;
    result.pytest_version = reference_->settings.pytest_version;
    result.python_version = reference_->settings.python_version;
  }
  // Tests that never ran: reported NotRun with the reason, unless -x/--maxfail stopped the
  // run, where pytest reports exactly what ran.
  std::vector<std::size_t> not_run;
  for (std::size_t i = 0; i < collected_; ++i) {
    if (!counted_[i]) not_run.push_back(i);
  }
  std::size_t not_run_shown = 0;
  const bool collection_interrupted = exit_override_ == 2 && !interrupted_ && !session_expired_;
  if (!stopped_by_maxfail_ && !collection_interrupted && !mismatch_.size() &&
      usage_error_.empty()) {
    const std::string reason =
        not_run_reason_.empty() ? "its worker ended before running it" : not_run_reason_;
    for (std::size_t index : not_run) {
      TestRecord& record = live(index).record;
      record_cause(record, Cause::NotRun, "not run: " + reason);
      finish_order_.push_back(index);
      if (settings_.observer) settings_.observer->test_ended(record);
      counted_[index] = true;
      settle(index);
      ++not_run_shown;
    }
  }

  if (!mismatch_.empty()) terminal_.line(mismatch_, "red");
  if (!usage_error_.empty()) {
    terminal_.line("bulkhead: " + usage_error_, "red");
  } else if (!reference_ && (session_expired_ || interrupted_)) {
    // Stopped by us before any collection ended: the deaths that followed are ours.
    terminal_.line("bulkhead: " + stop_reason_ + " before collection finished; no test ran", "red");
  } else if (fatal_ && !reference_) {
    for (const std::string& failure : distinct_startup_failures(startup_failures_)) {
      terminal_.line("bulkhead: " + failure, "red");
    }
  }

  // The host session's pytest finishes its session (caches, coverage): its summary sections
  // go where pytest prints them.
  const HostSummary host =
      host_.finish(interrupted_ ? stop_reason_ : "", failures_, signal_fd_.get(), host_handler_);
  internal_errors_.insert(internal_errors_.end(), host.errors.begin(), host.errors.end());
  SummaryInput summary;
  summary.plugin_sections = host.sections;
  for (const auto& [nodeid, message] : host.warnings) warnings_.push_back({nodeid, message});
  // The summary prints only tests that are not plain passes: those are loaded back from the
  // store; plain ones count in the closing line (and --top-memory's top ones are loaded).
  std::deque<LiveTest> shown;
  const bool lists_passed = terminal_.lists_passed();
  for (std::size_t index : finish_order_) {
    const TestSummary& stored = store_.summary(index);
    if (stored.plain && !lists_passed) {
      summary.add_folded("passed", stored.passed_phases);
      continue;
    }
    LiveTest& test = shown.emplace_back();
    test.record = store_.load(index, &test.displays);
    summary.tests.push_back({&test.record, &test.displays});
  }
  std::deque<TestRecord> by_memory;
  if (const auto top = terminal_.options().top_memory) {
    summary.memory_tests.emplace();
    for (std::size_t index : top_memory_indices(store_, finish_order_, *top)) {
      summary.memory_tests->push_back(&by_memory.emplace_back(store_.load(index)));
    }
  }
  if (reference_) {
    summary.collect_reports = reference_->collect_reports;
    summary.deselected = reference_->deselected;
  }
  summary.warnings = warnings_;
  summary.not_run_shown = not_run_shown;
  summary.interrupted = stop_reason_;
  summary.internal_errors = internal_errors_;
  summary.duration_s = std::chrono::duration_cast<Seconds>(Clock::now() - start_time_).count();
  result.exit_code = exit_code(not_run_shown);
  if (host.finished && host.exit_status == 1 && result.exit_code == 0) result.exit_code = 1;
  summary.closing = !(settings_.defer_closing_line && result.exit_code == 1);
  if ((reference_ || !internal_errors_.empty()) && usage_error_.empty()) {
    terminal_.summary(summary);
    if (!summary.closing) {
      result.deferred_closing = summary;
      // The retries count every test's final result again.
      result.deferred_closing->tests.clear();
      result.deferred_closing->folded.clear();
      result.deferred_closing->memory_tests.reset();
    }
  }

  // The loop is done with its results: the store and the collection's node ids move to the
  // result. The scheduler goes first, the items as soon as their node ids are out (the peak at
  // 100 000 tests is here).
  scheduler_.reset();
  if (reference_) {
    result.collected.reserve(collected_);
    for (protocol::CollectedItem& item : reference_->items) {
      result.collected.push_back(std::move(item.nodeid));
    }
    std::vector<protocol::CollectedItem>().swap(reference_->items);
  }
  result.records = std::move(store_);
  result.host_session_finished = host.finished;
  if (reference_) result.pytest_cache = reference_->cache;
  return result;
}

int Supervisor::Loop::exit_code(std::size_t not_run_shown) const {
  if (!usage_error_.empty()) return kPytestUsageError;
  if (!reference_ && (session_expired_ || interrupted_)) return exit_override_;
  if (!reference_) return startup_exit_code_ ? startup_exit_code_ : 3;
  if (exit_override_) return exit_override_;
  if (!internal_errors_.empty()) return 3;
  bool failed = false;
  // Collection errors the run went on past (--continue-on-collection-errors) fail it, as
  // in pytest.
  for (const auto& report : reference_->collect_reports) {
    failed |= phase_category(report.report.phase) == "error";
  }
  if (failed || store_.any_failing() || not_run_shown > 0) return 1;
  if (collected_ == 0) return 5;
  return 0;
}

}  // namespace bulkhead

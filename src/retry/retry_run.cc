// The retry phase of `bulkhead run --retries N` (see retry_run.h): sub-runs of the same
// Supervisor, each test alone in a fresh sandbox (--isolate test), and one sandbox replaying a
// recorded sequence in order (WorkPlan::sequence).
#include "src/retry/retry_run.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/error.h"
#include "src/report/outcome.h"
#include "src/retry/retry_book.h"

namespace bulkhead {
namespace {

bool failing(const TestRecord& test) {
  const std::string outcome = overall_outcome(test);
  return outcome == "failed" || outcome == "error";
}

bool passing(const TestRecord& test) { return test.cause != Cause::NotRun && !failing(test); }

RetryAttempt attempt_of(const TestRecord& test, std::string kind, std::size_t predecessors) {
  RetryAttempt attempt;
  attempt.kind = std::move(kind);
  attempt.predecessors = predecessors;
  attempt.worker = test.worker;
  attempt.outcome = overall_outcome(test);
  attempt.phases = test.phases;
  attempt.resources = test.resources;
  attempt.cause = test.cause;
  attempt.cause_message = test.cause_message;
  return attempt;
}

// Which sandbox ran each test and where in it, as the supervisor recorded when it started.
// From the store's summaries: no record is loaded.
std::vector<RanTest> ran_tests(const ResultStore& store) {
  std::vector<RanTest> ran;
  ran.reserve(store.size());
  for (std::size_t index : store.indices()) {
    const TestSummary& test = store.summary(index);
    RanTest entry;
    entry.index = index;
    const bool never = test.cause == Cause::NotRun || test.sandbox < 0;
    entry.worker = never ? "" : store.worker_name(test.worker);
    entry.incarnation = never ? -1 : test.sandbox;
    entry.seq = never ? -1 : test.seq;
    entry.start = test.start;
    entry.failed = test.cause != Cause::NotRun && test.failing;
    ran.push_back(entry);
  }
  return ran;
}

// Runs sub-runs of the same suite in fresh sandboxes, their output to /dev/null.
class SubRuns {
 public:
  SubRuns(sandbox::Sandbox& sandbox, const WorkerLaunch& launch, const SupervisorSettings& settings,
          TerminalOptions terminal_options)
      : sandbox_(sandbox), launch_(launch), settings_(settings), options_(terminal_options) {
    null_.reset(std::fopen("/dev/null", "w"));
    if (!null_) throw_errno("fopen /dev/null");
    options_.verbosity = -1;
  }

  // `nodeids` each alone in a fresh sandbox (`alone`), or in this order in one sandbox.
  // Returns the tests that ran, by node id.
  std::map<std::string, TestRecord> run(const std::vector<std::string>& nodeids, bool alone) {
    SupervisorSettings settings = settings_;
    settings.workers =
        alone ? std::max(1, std::min(settings_.workers, static_cast<int>(nodeids.size()))) : 1;
    settings.isolate_units = alone;
    if (alone) settings.dist = DistMode::Load;
    settings.host.off_reason = "retries run without the host session";
    settings.live_progress = false;  // quiet: neither the status line nor the terminal's keys
    settings.terminal_keys = false;
    settings.defer_closing_line = false;
    settings.plan_work = [&nodeids, alone](const std::vector<ScheduledItem>& items) {
      std::map<std::string, std::size_t> at;
      for (std::size_t i = 0; i < items.size(); ++i) at.emplace(items[i].nodeid, i);
      WorkPlan plan;
      plan.selected.assign(items.size(), false);
      for (const std::string& nodeid : nodeids) {
        auto found = at.find(nodeid);
        if (found == at.end()) continue;
        plan.selected[found->second] = true;
        if (!alone) plan.sequence.push_back(found->second);
      }
      return plan;
    };
    WorkerLaunch launch = launch_;
    launch.run_dir = launch_.run_dir + "/retry-" + std::to_string(++count_);
    if (settings.observer) settings.observer->sub_run(count_, alone ? "alone" : "replay");
    std::error_code ignored;
    std::filesystem::create_directories(launch.run_dir, ignored);
    Terminal quiet(null_.get(), options_);
    RunResult result;
    {
      Supervisor supervisor(sandbox_, launch, settings, quiet);
      result = supervisor.run();
    }
    interrupted_ |= result.exit_code == 2;
    std::map<std::string, TestRecord> out;
    result.records.for_each([&out](const TestRecord& test) {
      if (test.cause != Cause::NotRun) out.emplace(test.nodeid, test);
    });
    return out;
  }
  // A sub-run was interrupted (SIGINT/SIGTERM, --session-timeout): no more retries.
  bool interrupted() const { return interrupted_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  sandbox::Sandbox& sandbox_;
  const WorkerLaunch& launch_;
  const SupervisorSettings& settings_;
  TerminalOptions options_;
  std::unique_ptr<std::FILE, FileCloser> null_;
  int count_ = 0;
  bool interrupted_ = false;
};

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// The run's closing line, which the first run left to the retries: pytest's counts over each
// test's final result, then the verdicts, in the whole run's time.
void close_run(Terminal& terminal, RunResult& result, double retries_s,
               std::vector<std::pair<std::string, std::size_t>> verdicts = {}) {
  if (!result.deferred_closing) return;
  SummaryInput input = std::move(*result.deferred_closing);
  result.deferred_closing.reset();
  result.records.for_each([&input](const TestRecord& test) { input.fold(test); });
  input.extra_counts = std::move(verdicts);
  input.duration_s += retries_s;
  terminal.closing_line(input);
}

}  // namespace

int run_retries(sandbox::Sandbox& sandbox, const WorkerLaunch& launch,
                const SupervisorSettings& settings, const TerminalOptions& terminal_options,
                const RetryOptions& options, Terminal& terminal, RunResult& result) {
  if (options.retries <= 0 || result.exit_code != 1) {
    close_run(terminal, result, 0);
    return result.exit_code;
  }
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&started] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  RetryBook book(ran_tests(result.records), options.retries);
  const std::vector<std::size_t> failed = book.failed_tests();
  if (failed.empty()) {
    close_run(terminal, result, 0);
    return result.exit_code;
  }
  // The failed tests' records, loaded back; the others are named by the collection.
  std::map<std::size_t, TestRecord> failed_records;
  for (std::size_t index : failed) failed_records.emplace(index, result.records.load(index));
  const auto nodeid = [&result](std::size_t index) -> const std::string& {
    return result.collected.at(index);
  };

  terminal.separator('=', "retries (--retries " + std::to_string(options.retries) + ")", "cyan",
                     true);
  terminal.line("rerunning " + plural(failed.size(), "failed test") +
                " alone, each in a fresh sandbox");
  SubRuns runs(sandbox, launch, settings, terminal_options);
  std::map<std::size_t, std::vector<RetryAttempt>> attempts;
  for (std::vector<std::size_t> round = book.next_alone_round(); !round.empty();
       round = book.next_alone_round()) {
    if (runs.interrupted()) break;
    std::vector<std::string> nodeids;
    for (std::size_t index : round) nodeids.push_back(nodeid(index));
    std::map<std::string, TestRecord> got = runs.run(nodeids, true);
    for (std::size_t index : round) {
      auto found = got.find(nodeid(index));
      if (found == got.end()) {  // it did not run (its sandbox did not start): a failed attempt
        TestRecord missing = failed_records.at(index);
        record_cause(missing, Cause::NotRun, "not run: its retry sandbox ran nothing");
        attempts[index].push_back(attempt_of(missing, "alone", 0));
        book.alone_result(index, false);
        continue;
      }
      attempts[index].push_back(attempt_of(found->second, "alone", 0));
      book.alone_result(index, passing(found->second));
    }
  }
  for (const RetryBook::Replay& replay : book.replays()) {
    if (runs.interrupted()) break;
    std::vector<std::string> nodeids;
    for (std::size_t index : replay.sequence) nodeids.push_back(nodeid(index));
    terminal.line("replaying " + nodeid(replay.index) + " after its " +
                  plural(replay.sequence.size() - 1, "predecessor") + " in a fresh sandbox");
    std::map<std::string, TestRecord> got = runs.run(nodeids, false);
    auto found = got.find(nodeid(replay.index));
    const bool passed = found != got.end() && passing(found->second);
    if (found != got.end()) {
      attempts[replay.index].push_back(
          attempt_of(found->second, "replay", replay.sequence.size() - 1));
    }
    book.replay_result(replay.index, passed);
  }

  if (runs.interrupted()) {
    terminal.line("bulkhead: retries interrupted; the first run's results stand", "red");
    close_run(terminal, result, elapsed());
    return 2;
  }
  std::size_t counts[3] = {0, 0, 0};  // failed, flaky, order-dependent
  for (std::size_t index : failed) {
    TestRecord& test = failed_records.at(index);
    const Verdict verdict = book.verdict(index);
    std::vector<RetryAttempt> all = {attempt_of(test, "first", book.predecessors(index))};
    for (RetryAttempt& attempt : attempts[index]) all.push_back(std::move(attempt));
    const std::size_t tries = all.size();
    std::size_t failures = 0;
    for (const RetryAttempt& attempt : all) failures += attempt.outcome != "passed";
    test.verdict = verdict_name(verdict);
    std::size_t primary = 0;  // the attempt the test's own result is: the first run's
    if (verdict == Verdict::Flaky && options.flaky_passes) {
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i].outcome != "failed" && all[i].outcome != "error") primary = i;
      }
      test.phases = all[primary].phases;
      test.resources = all[primary].resources;
      test.cause = all[primary].cause;
      test.cause_message = all[primary].cause_message;
      test.worker = all[primary].worker;
    }
    test.attempts.clear();
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i != primary) test.attempts.push_back(std::move(all[i]));
    }
    const std::string ran = std::to_string(failures) + " of " + std::to_string(tries) + " attempts";
    switch (verdict) {
      case Verdict::Flaky:
        ++counts[1];
        terminal.line(
            "FLAKY " + test.nodeid + " - failed " + ran +
                (options.flaky_passes ? " (--flaky-result pass)" : " (--flaky-result fail)"),
            "yellow");
        break;
      case Verdict::OrderDependent:
        ++counts[2];
        terminal.line("ORDER-DEPENDENT " + test.nodeid + " - passes alone, fails after the " +
                          plural(book.predecessors(index), "test") + " its sandbox ran before it",
                      "red");
        break;
      default:
        ++counts[0];
        terminal.line("FAILED " + test.nodeid + " - failed " + ran, "red");
        break;
    }
  }
  for (const auto& [index, test] : failed_records) result.records.put(test);
  bool any_failing = false;
  for (std::size_t index : result.records.indices()) {
    const TestSummary& test = result.records.summary(index);
    any_failing |= test.cause == Cause::NotRun || test.failing;
  }
  char retried[48];
  std::snprintf(retried, sizeof retried, "retries took %.2fs", elapsed());
  terminal.line(retried);
  std::vector<std::pair<std::string, std::size_t>> verdicts;
  if (counts[1]) verdicts.emplace_back("flaky", counts[1]);
  if (counts[2]) verdicts.emplace_back("order-dependent", counts[2]);
  close_run(terminal, result, elapsed(), std::move(verdicts));
  return any_failing ? 1 : 0;
}

}  // namespace bulkhead

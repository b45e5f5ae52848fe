// `bulkhead bisect`; see bisect.h.
#include "src/diagnose/bisect.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "src/record/record_views.h"

namespace bulkhead {
namespace {

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

Trial trial_of(const ReplayOutcome& outcome) {
  if (failing_outcome(outcome.outcome)) return Trial::Fails;
  if (outcome.outcome.empty()) return Trial::Unresolved;
  return Trial::Passes;  // passed, skipped, xfailed...: the failure did not come back
}

BisectReport run_bisect(const Diagnosis& diagnosis, ReplayRunner& runner, int width,
                        std::FILE* out) {
  const ReplayTarget& target = diagnosis.target;
  const std::vector<std::string>& before = diagnosis.predecessors;
  std::fprintf(out, "bisecting the %s its sandbox ran before it, %s at a time\n",
               plural(before.size(), "test").c_str(),
               plural(static_cast<std::size_t>(width), "replay").c_str());
  std::fflush(out);
  const auto started = std::chrono::steady_clock::now();
  int round = 0;
  const TrialBatch batch = [&](const std::vector<std::vector<std::size_t>>& sets) {
    std::vector<std::vector<std::string>> sequences;
    std::size_t smallest = before.size(), largest = 0;
    for (const std::vector<std::size_t>& set : sets) {
      std::vector<std::string> sequence;
      for (std::size_t position : set) sequence.push_back(before.at(position));
      sequence.push_back(target.nodeid);
      smallest = std::min(smallest, set.size());
      largest = std::max(largest, set.size());
      sequences.push_back(std::move(sequence));
    }
    const std::vector<ReplayOutcome> got = runner.run(target, sequences);
    if (runner.interrupted()) {
      throw DiagnoseStop("interrupted: the replays were stopped", kDiagnoseInterrupted);
    }
    std::vector<Trial> trials;
    std::size_t failing = 0;
    for (const ReplayOutcome& outcome : got) {
      // A sub-run that ended in a usage or internal error will not do better next round.
      if (outcome.outcome.empty() && (outcome.exit_code == 3 || outcome.exit_code == 4)) {
        throw DiagnoseStop("a replay did not run the test: " + outcome.problem,
                           kDiagnoseReplayFailed);
      }
      trials.push_back(trial_of(outcome));
      failing += trials.back() == Trial::Fails;
    }
    const std::string sizes = smallest == largest
                                  ? std::to_string(smallest)
                                  : std::to_string(smallest) + "-" + std::to_string(largest);
    std::fprintf(out, "  round %d: %s, %s predecessor%s%s, %zu failing\n", ++round,
                 plural(sets.size(), "replay").c_str(), sizes.c_str(), largest == 1 ? "" : "s",
                 sets.size() == 1 ? "" : " each", failing);
    std::fflush(out);
    return trials;
  };
  BisectReport report;
  report.outcome = bisect_predecessors(before.size(), width, batch);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const BisectOutcome& outcome = report.outcome;
  char cost[96];
  std::snprintf(cost, sizeof cost, "%s, %s, %.1fs", plural(outcome.rounds, "round").c_str(),
                plural(outcome.trials, "replay").c_str(), report.seconds);
  switch (outcome.verdict) {
    case BisectOutcome::Verdict::Found: {
      for (std::size_t position : outcome.polluters) report.polluters.push_back(before[position]);
      std::fprintf(out, "POLLUTED %s - fails after %s (%s):\n", target.nodeid.c_str(),
                   report.polluters.size() == 1 ? "this test" : "these tests together", cost);
      for (const std::string& polluter : report.polluters) {
        std::fprintf(out, "  %s\n", polluter.c_str());
      }
      std::vector<std::string> sequence = report.polluters;
      sequence.push_back(target.nodeid);
      const std::string list = keep_list(diagnosis, "bisect", sequence);
      std::fprintf(out, "reproduce with just %s:\n  %s\n",
                   report.polluters.size() == 1 ? "it" : "them",
                   record::quoted_command(replay_command(target, list)).c_str());
      std::vector<std::string> pytest = {diagnosis.python.empty() ? "python3" : diagnosis.python,
                                         "-m", "pytest", "-p", "no:randomly"};
      pytest.insert(pytest.end(), sequence.begin(), sequence.end());
      std::fprintf(out, "  or, outside the sandbox: %s\n", record::quoted_command(pytest).c_str());
      report.status = 0;
      break;
    }
    case BisectOutcome::Verdict::FailsAlone:
      std::fprintf(out,
                   "CONSISTENT %s - fails alone too: no predecessor is needed, nothing to "
                   "bisect (%s)\n",
                   target.nodeid.c_str(), cost);
      report.status = kDiagnoseConsistent;
      break;
    case BisectOutcome::Verdict::NotReproduced:
    case BisectOutcome::Verdict::Flaky:
      std::fprintf(out, "%s %s - %s; no polluter named (%s)\n",
                   outcome.verdict == BisectOutcome::Verdict::Flaky ? "FLAKY" : "NOT REPRODUCED",
                   target.nodeid.c_str(), outcome.note.c_str(), cost);
      report.status = kDiagnoseFlaky;
      break;
  }
  return report;
}

}  // namespace bulkhead

// `bulkhead repro`; see repro.h.
#include "src/diagnose/repro.h"

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

ReproVerdict repro_verdict(bool replay_failed, bool alone_failed) {
  if (alone_failed) return ReproVerdict::Consistent;
  return replay_failed ? ReproVerdict::OrderDependent : ReproVerdict::Flaky;
}

int run_repro(const Diagnosis& diagnosis, ReplayRunner& runner, std::FILE* out) {
  const ReplayTarget& target = diagnosis.target;
  std::vector<std::string> sequence = diagnosis.predecessors;
  sequence.push_back(target.nodeid);
  const std::string sequence_list = keep_list(diagnosis, "repro", sequence);
  const std::string alone_list = keep_list(diagnosis, "alone", {target.nodeid});
  std::fprintf(out, "replaying the %s of its sandbox in %s, and the test alone in a fresh one\n",
               plural(sequence.size(), "test").c_str(), target.worker.c_str());
  std::fflush(out);
  const auto started = std::chrono::steady_clock::now();
  const std::vector<ReplayOutcome> got = runner.run(target, {sequence, {target.nodeid}});
  if (runner.interrupted())
    throw DiagnoseStop("interrupted: the replays were stopped", kDiagnoseInterrupted);
  const char* names[] = {"the replay of its sandbox's sequence", "the replay of the test alone"};
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!got[i].problem.empty()) {
      throw DiagnoseStop(std::string(names[i]) + " did not run the test: " + got[i].problem,
                         kDiagnoseReplayFailed);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const ReplayOutcome& replay = got[0];
  const ReplayOutcome& alone = got[1];
  auto outcome_text = [](const ReplayOutcome& outcome) {
    return outcome.outcome + (outcome.cause.empty() ? "" : " (" + outcome.cause + ")");
  };
  std::fprintf(out, "  after its %s: %s\n  alone: %s\n  (both in %.1fs)\n",
               plural(diagnosis.predecessors.size(), "predecessor").c_str(),
               outcome_text(replay).c_str(), outcome_text(alone).c_str(), seconds);
  const std::string replay_command_line =
      record::quoted_command(replay_command(target, sequence_list));
  const std::string alone_command_line = record::quoted_command(replay_command(target, alone_list));
  const bool replay_failed = failing_outcome(replay.outcome);
  const bool alone_failed = failing_outcome(alone.outcome);
  switch (repro_verdict(replay_failed, alone_failed)) {
    case ReproVerdict::Consistent:
      std::fprintf(out, "CONSISTENT %s - fails alone too, whatever ran before it\n",
                   target.nodeid.c_str());
      std::fprintf(out, "  fails alone: %s\n", alone_command_line.c_str());
      std::fprintf(out, "  %s: %s\n", replay_failed ? "fails" : "passes",
                   replay_command_line.c_str());
      return kDiagnoseConsistent;
    case ReproVerdict::OrderDependent:
      std::fprintf(out, "ORDER-DEPENDENT %s - fails only after its predecessors\n",
                   target.nodeid.c_str());
      std::fprintf(out, "  fails:  %s\n", replay_command_line.c_str());
      std::fprintf(out, "  passes: %s\n", alone_command_line.c_str());
      std::fprintf(out, "  which of them: bulkhead bisect %s --run %s\n",
                   record::quoted_command({target.nodeid}).c_str(), diagnosis.run_id.c_str());
      return kDiagnoseOrderDependent;
    case ReproVerdict::Flaky:
      std::fprintf(out,
                   "FLAKY %s - the replay of its sandbox's sequence passed: the failure did not "
                   "come back\n",
                   target.nodeid.c_str());
      std::fprintf(out, "  passes: %s\n", replay_command_line.c_str());
      std::fprintf(out, "  passes: %s\n", alone_command_line.c_str());
      return kDiagnoseFlaky;
  }
  return kDiagnoseFlaky;
}

}  // namespace bulkhead

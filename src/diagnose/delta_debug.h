// Delta debugging over a failing test's predecessors (`bulkhead bisect`): which of the tests
// that ran before it in its sandbox make it fail. Zeller's ddmin, run in rounds: each round
// hands up to `width` candidate subsets to the caller at once (parallel sandboxes), and the
// search reduces to the first candidate whose replay fails. A flaky failure is told apart: the
// full sequence must fail and the test alone pass before the search, and the set found must
// fail again (`confirmations` times) after it, or the verdict is Flaky and no polluter is named.
// Pure logic: the caller runs the candidates.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace bulkhead {

// A candidate's replay: the predecessors it keeps (positions into the recorded sequence,
// ascending), then the test.
enum class Trial {
  Fails,       // the test's recorded outcome came back
  Passes,      // the test passed
  Unresolved,  // neither (it did not run, another outcome): treated as not failing
};

// Runs every candidate of one round (at most `width` of them, each a list of positions) and
// returns their trials in the same order.
using TrialBatch = std::function<std::vector<Trial>(const std::vector<std::vector<std::size_t>>&)>;

struct BisectOutcome {
  enum class Verdict {
    Found,          // `polluters` make the test fail; without any one of them it passes
    FailsAlone,     // the test fails with no predecessor: nothing to bisect (consistent)
    NotReproduced,  // the whole recorded sequence did not fail again
    Flaky,          // the failure came and went for the same candidate: no polluter named
  };
  Verdict verdict = Verdict::NotReproduced;
  std::vector<std::size_t> polluters;  // positions, ascending (Found)
  int rounds = 0;                      // batches run
  std::size_t trials = 0;              // candidate replays run
  std::string note;                    // what made the verdict Flaky or NotReproduced
};

// Bisects `predecessors` positions (0..predecessors-1). width >= 1.
BisectOutcome bisect_predecessors(std::size_t predecessors, int width, const TrialBatch& run,
                                  int confirmations = 2);

}  // namespace bulkhead

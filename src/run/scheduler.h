// Hands collected tests to workers in units (a test, a file, a scope or an xdist_group),
// keeping each worker's queue just deep enough that cheap tests don't wait on a round trip
// and the tail stays balanced: long units first when durations are known, batches sized by
// expected time, and an idle worker taking back unstarted units from the busiest one (work
// stealing). Pure logic: no I/O, no clocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "src/run/units.h"

namespace bulkhead {

// What this run does with the collection. Defaults: every test, durations unknown.
struct WorkPlan {
  std::vector<bool> selected;      // per collected index; empty: all (a shard selects its own)
  std::vector<double> expected_s;  // per index, seconds (unknown ones at the median); empty:
                                   // unknown, so every test weighs the same
  std::vector<double> order_s;     // per index, what "long" is judged on (the call phase when
                                   // it is known apart from fixture setup); empty: expected_s
  std::string note;  // what the run should say about it after the collection line, or ""
  // An exact hand-out order (a replay of one sandbox's sequence, --retries): only these
  // indices, one unit each, in this order, whatever the mode. Empty: the mode's units.
  std::vector<std::size_t> sequence;
};

// A steal: ask `victim` to give back these units (each a list of indices, all or nothing).
struct StealRequest {
  int victim = -1;
  std::vector<std::vector<std::size_t>> units;
};

// What to do for a worker the queue cannot feed (Scheduler::steal_for).
struct StealStep {
  std::optional<StealRequest> request;  // send it
  bool wait = false;  // a steal is under way or may become possible: do not shut `thief` down
};

class Scheduler {
 public:
  // `items` in collection order; worker slots are 0..workers-1. `items` is read here only.
  Scheduler(DistMode mode, const std::vector<ScheduledItem>& items, int workers,
            WorkPlan plan = {});

  // Indices to send to `worker` now (possibly empty). Whole units only: a file/scope/group
  // goes to one worker. Call after a worker starts and after each result. Units that came
  // back from a lost worker go first, but at most one at a time per worker.
  std::vector<std::size_t> next_batch(int worker);

  // The worker reported `index` finished (pass or fail).
  void on_finished(int worker, std::size_t index);

  // The worker died. Its held-but-unfinished indices go back to the front of the queue, except
  // `lost` (the test it was running, reported by the caller). Returns the requeued indices.
  std::vector<std::size_t> on_worker_lost(int worker, std::optional<std::size_t> lost);

  // Work stealing, the whole decision for a worker asking for more: nothing when the queue can
  // still feed it or it holds more than kStealBelowHeld tests; else plan_steal, or wait while a
  // request is pending or stealable work may free up.
  static constexpr std::size_t kStealBelowHeld = 2;
  StealStep steal_for(int thief, const std::vector<bool>& can_give);
  // For `thief`, which nothing queued can feed: the units to ask back from the
  // worker holding the most unstarted work, taken from the end of its hand-out while moving
  // them shortens the longer of the two queues. Never the first two unfinished tests a worker
  // holds (the one it runs and the one it already knows as pytest's `nextitem`), never part of
  // a unit, never from a worker already asked. nullopt: nothing worth taking now. `can_give`
  // (per worker; empty: all) excludes workers that cannot answer (not started, exiting).
  std::optional<StealRequest> plan_steal(int thief, const std::vector<bool>& can_give = {});
  // The victim's answer: the indices it gave back (it is the authority: a unit it had started
  // meanwhile stays with it). They go to the front of the queue as units, and stop being held
  // by the victim. Indices it does not hold are ignored. Returns how many were taken back.
  std::size_t on_released(int victim, const std::vector<std::size_t>& indices);
  bool steal_pending(int thief) const;     // `thief` asked a victim that has not answered yet
  int thief_waiting_on(int victim) const;  // the thief `victim`'s answer goes to, or -1
  // Whether some worker (`can_give` as for plan_steal) holds units a steal could take once it
  // answers its pending request or makes progress: the thief should wait rather than end.
  bool stealable_work_exists(int thief, const std::vector<bool>& can_give = {}) const;

  // From now on a batch is one unit (--isolate test|file: one unit per sandbox).
  void one_unit_per_batch() { one_unit_ = true; }

  // -x / --maxfail reached or interrupted: nothing more is handed out.
  void stop();
  bool stopped() const;

  bool all_handed_out() const;  // nothing left in the queue
  std::size_t queued_units() const { return queue_.size() + suspects_.size(); }
  // Whether next_batch(worker) could hand it anything now (ignoring how much it holds).
  bool has_work_for(int worker) const;
  std::size_t held(int worker) const;  // handed to `worker`, not finished yet
  bool holds(int worker, std::size_t index) const;
  std::vector<std::size_t> never_handed_out() const;  // queue contents (for not-run reporting)
  std::size_t scheduled() const;                      // selected tests in this run
  bool durations_known() const;

 private:
  enum class State : std::uint8_t { Queued, Held, Done };
  struct Worker {
    std::size_t held = 0;           // indices handed out, not finished
    double held_weight = 0;         // their expected seconds (or counts)
    std::deque<std::size_t> units;  // unit ids handed out, oldest first (some may be done)
    std::size_t suspects = 0;       // suspect units held, not finished
    bool asked = false;             // a steal request to this worker awaits its answer
    bool refused = false;           // gave back less than asked: not asked again until progress
  };

  double batch_target() const;  // weight to hand out in one refill
  void check_worker(int worker) const;
  std::size_t add_unit(std::vector<std::size_t> indices);  // returns its id
  void order_longest_first(const std::vector<double>& order_s);
  // Units of `worker` a steal may take, in hand-out order, and its unfinished weight.
  std::vector<std::size_t> stealable_units(int worker, double* unfinished_weight) const;

  std::vector<double> weight_;                   // index -> expected seconds, or 1
  std::vector<std::vector<std::size_t>> units_;  // unit id -> indices (requeues add new units)
  std::vector<std::size_t> unit_left_;           // unit id -> indices not finished yet
  std::vector<double> unit_weight_;              // unit id -> weight of all its indices
  std::vector<std::size_t> unit_of_;             // index -> unit id it currently belongs to
  std::vector<State> state_;                     // index -> state
  std::vector<int> owner_;                       // index -> worker holding it, or -1
  std::deque<std::size_t> queue_;                // unit ids not handed out, front first
  // Units a dead worker held: they may hold the next hang or crash, so each worker takes at
  // most one at a time and they spread over the workers instead of queueing behind each other.
  std::deque<std::size_t> suspects_;
  std::vector<bool> suspect_;     // unit id -> came back from a lost worker
  std::size_t queued_tests_ = 0;  // indices in `queue_` and `suspects_`
  double queued_weight_ = 0;      // their weight
  std::size_t scheduled_ = 0;     // selected indices
  bool durations_known_ = false;
  std::vector<Worker> workers_;
  std::vector<int> thief_of_;  // victim -> thief waiting on its answer, or -1
  bool stopped_ = false;
  bool one_unit_ = false;
};

}  // namespace bulkhead

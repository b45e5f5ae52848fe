// Hands collected tests to workers in units (a test, a file, a scope or an xdist_group),
// keeping each worker's queue just deep enough that cheap tests don't wait on a round trip
// and the tail stays balanced. Pure logic: no I/O, no clocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace bulkhead {

enum class DistMode { Load, LoadFile, LoadScope, LoadGroup };
std::optional<DistMode> parse_dist_mode(const std::string& text);  // "load", "loadfile", ...
const char* dist_mode_name(DistMode mode);

struct ScheduledItem {
  std::string nodeid;
  std::string group;  // xdist_group marker name, "" when none (used by LoadGroup)
};

class Scheduler {
 public:
  // `items` in collection order; worker slots are 0..workers-1.
  Scheduler(DistMode mode, std::vector<ScheduledItem> items, int workers);

  // Indices to send to `worker` now (possibly empty). Whole units only: a file/scope/group
  // goes to one worker. Call after a worker starts and after each result. Units that came
  // back from a lost worker go first, but at most one at a time per worker.
  std::vector<std::size_t> next_batch(int worker);

  // The worker reported `index` finished (pass or fail).
  void on_finished(int worker, std::size_t index);

  // The worker died. Its held-but-unfinished indices go back to the front of the queue, except
  // `lost` (the test it was running, reported by the caller). Returns the requeued indices.
  std::vector<std::size_t> on_worker_lost(int worker, std::optional<std::size_t> lost);

  // -x / --maxfail reached or interrupted: nothing more is handed out.
  void stop();
  bool stopped() const;

  bool all_handed_out() const;  // nothing left in the queue
  // Whether next_batch(worker) could hand it anything now (ignoring how much it holds).
  bool has_work_for(int worker) const;
  std::size_t held(int worker) const;                 // handed to `worker`, not finished yet
  std::vector<std::size_t> never_handed_out() const;  // queue contents (for not-run reporting)

 private:
  enum class State : std::uint8_t { Queued, Held, Done };
  struct Worker {
    std::size_t held = 0;           // indices handed out, not finished
    std::deque<std::size_t> units;  // unit ids handed out, oldest first (some may be done)
    std::size_t suspects = 0;       // suspect units held, not finished
  };

  std::size_t batch_target() const;                        // tests to hand out in one refill
  void check_worker(int worker) const;                     // throws std::out_of_range
  std::size_t add_unit(std::vector<std::size_t> indices);  // returns its id

  std::vector<ScheduledItem> items_;
  std::vector<std::vector<std::size_t>> units_;  // unit id -> indices (requeues add new units)
  std::vector<std::size_t> unit_left_;           // unit id -> indices not finished yet
  std::vector<std::size_t> unit_of_;             // index -> unit id it currently belongs to
  std::vector<State> state_;                     // index -> state
  std::vector<int> owner_;                       // index -> worker holding it, or -1
  std::deque<std::size_t> queue_;                // unit ids not handed out, front first
  // Units a dead worker held: they may hold the next hang or crash, so each worker takes at
  // most one at a time and they spread over the workers instead of queueing behind each other.
  std::deque<std::size_t> suspects_;
  std::vector<bool> suspect_;     // unit id -> came back from a lost worker
  std::size_t queued_tests_ = 0;  // indices in `queue_`
  std::vector<Worker> workers_;
  bool stopped_ = false;
};

}  // namespace bulkhead

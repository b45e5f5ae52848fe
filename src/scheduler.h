// Hands collected tests to workers in units (a test, a file, a scope or an xdist_group),
// keeping each worker's queue just deep enough that cheap tests don't wait on a round trip
// and the tail stays balanced. Pure logic: no I/O, no clocks.
#pragma once

#include <cstddef>
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
  // goes to one worker. Call after a worker starts and after each result.
  std::vector<std::size_t> next_batch(int worker);

  // The worker reported `index` finished (pass or fail).
  void on_finished(int worker, std::size_t index);

  // The worker died. Its held-but-unfinished indices go back to the front of the queue, except
  // `lost` (the test it was running, reported by the caller). Returns the requeued indices.
  std::vector<std::size_t> on_worker_lost(int worker, std::optional<std::size_t> lost);

  // -x / --maxfail reached or interrupted: nothing more is handed out.
  void stop();
  bool stopped() const;

  bool all_handed_out() const;              // nothing left in the queue
  std::size_t held(int worker) const;       // handed to `worker`, not finished yet
  std::vector<std::size_t> never_handed_out() const;  // queue contents (for not-run reporting)
};

}  // namespace bulkhead

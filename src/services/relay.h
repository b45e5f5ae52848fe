// The relay: carries connections made to listeners inside sandboxes to their targets on the
// host. One thread with its own epoll serves every listener and connection of the run (never
// a thread or process per connection); bytes move through a pipe with splice(2), never through
// user space. A connection closes on both sides when either side closes (half-closes pass
// through), a reset on one side resets the other, a target that refuses or is missing resets
// the sandbox's side at once, and detaching a sandbox (its worker died) closes its listeners
// and every connection made through them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "sandbox/fd.h"
#include "src/services/forward.h"

namespace bulkhead::services {

struct RelayCounters {
  std::atomic<uint64_t> accepted{0};  // connections taken from listeners
  std::atomic<uint64_t> refused{0};   // their target could not be reached
  std::atomic<uint64_t> open{0};      // connections open now
};

class Relay {
 public:
  // Starts the thread. `targets[i]` is what listeners attached with target index i reach.
  // `connect_timeout_s` bounds a connect that neither completes nor fails (a filtered host).
  explicit Relay(std::vector<ResolvedTarget> targets, double connect_timeout_s = 10.0);
  ~Relay();  // stops the thread and closes everything
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Serves `listeners` (each with its target index) for `owner` from now on.
  void attach(int owner, std::vector<std::pair<UniqueFd, std::size_t>> listeners);
  // Closes `owner`'s listeners and resets every connection made through them. Returns once
  // the relay thread has done it.
  void detach(int owner);

  const RelayCounters& counters() const { return counters_; }

 private:
  class Loop;
  RelayCounters counters_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace bulkhead::services

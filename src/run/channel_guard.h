// The supervisor's trust rules for one worker's channel: what a worker may say, given what it
// was handed. One `collected`, first (a worker forked from the zygote sends none); a `start`
// only for the next test it was handed, in the order handed; `timeout`, indexed `report` and
// `finished` only for the test it is running; `released` (work stealing) only in answer to a
// `steal`, and only of tests that steal asked for, this worker holds and has not started; each
// test started and ended once; `done` once, between tests. Everything else (a result for a
// test it was not given, a second result, an unknown index) is refused, naming the test.
// Pure bookkeeping per worker incarnation: no I/O, no clocks.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/run/protocol.h"

namespace bulkhead {

class ChannelGuard {
 public:
  // A legitimate worker sends at most a few reports per test (setup, call, teardown, reruns):
  // more than this for one test is a flood, refused before it fills the supervisor's memory.
  static constexpr std::size_t kMaxReportsPerTest = 1000;

  using Collection = std::vector<protocol::CollectedItem>;

  // This worker was forked from the zygote, which collected for it: it sends no `collected`
  // of its own (one would be a second).
  void forked() { collected_ = true; }
  // The supervisor sends this worker `run` with these indices, in this order. Returns them.
  const std::vector<std::size_t>& handed(const std::vector<std::size_t>& indices);
  // The supervisor sends this worker `steal` for these units; each `released` answers the
  // oldest unanswered one. Returns them.
  const std::vector<std::vector<std::size_t>>& asked(
      const std::vector<std::vector<std::size_t>>& units);

  // Checks an event from this worker against its state and the agreed collection (nullptr
  // until one is agreed) and, when allowed, records it. Returns why it is refused, naming
  // the event and the test: "`report` for test 7 (t.py::b), which this worker was not given".
  std::optional<std::string> admit(const protocol::Event& event, const Collection* collection);

  // Decodes one channel line and admits it: the event, or protocol::ProtocolError saying why
  // the line is malformed or the event refused.
  protocol::Event accept(std::string_view line, const Collection* collection);

  bool collected() const { return collected_; }
  std::optional<std::size_t> running() const { return running_; }

 private:
  // Checks that `kind` may name `index` now: it exists, this worker has not already ended it,
  // and it is the test it runs. Returns why not.
  std::optional<std::string> check_running(const char* kind, std::size_t index,
                                           const Collection& collection);
  std::optional<std::string> check_start(std::size_t index, const Collection& collection);
  // Tests given back in answer to the oldest unanswered `steal`: each one that steal asked
  // for, this worker holds and has not started; admitted, they leave its queue.
  std::optional<std::string> check_released(const std::vector<std::size_t>& indices,
                                            const Collection& collection);
  bool ended(std::size_t index) const;

  bool collected_ = false;
  bool done_ = false;
  std::optional<std::size_t> running_;
  std::size_t reports_ = 0;                      // indexed reports for the running test
  std::deque<std::size_t> queue_;                // handed, not started yet, in the order handed
  std::deque<std::vector<std::size_t>> steals_;  // indices each unanswered `steal` asked for
  std::vector<bool> ended_;                      // index -> this worker started and finished it
};

}  // namespace bulkhead

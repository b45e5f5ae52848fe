// Stacks on demand (SIGUSR1 to bulkhead, or `t` on its terminal): each running test's worker
// is sent SIGUSR1, its faulthandler appends every thread's Python stack to the worker's stacks
// file, and once each dump has grown and stopped growing (or the grace is over) the report
// lists every running test with its worker, time and stack. The run goes on.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/report/live_line.h"
#include "src/report/terminal.h"

namespace bulkhead {

struct StackTarget {
  int slot = 0;
  uint32_t generation = 0;  // the worker asked; a replacement's file is not its
  RunningTest test;
  uint64_t from = 0;  // the stacks file's size when asked: the dump starts there
  uint64_t seen = 0;  // its size at the last poll
  bool grew = false;
  bool settled = false;  // grew, then stopped growing
};

class StackRequest {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kPoll = std::chrono::milliseconds(25);

  StackRequest(std::vector<StackTarget> targets, Clock::time_point now, double grace_s);
  Clock::time_point next_poll() const { return next_poll_; }
  // `size`: the target's stacks file size now, nullopt once its worker is gone. True when
  // every dump is complete, or the grace is over.
  bool poll(Clock::time_point now,
            const std::function<std::optional<uint64_t>(const StackTarget&)>& size);
  const std::vector<StackTarget>& targets() const { return targets_; }

 private:
  std::vector<StackTarget> targets_;
  Clock::time_point next_poll_;
  Clock::time_point give_up_;
};

// The report: a heading, then per running test its worker, node id, time and stack (or why
// there is none: `stacks[i]` empty).
void print_stack_report(Terminal& terminal, const std::vector<StackTarget>& targets,
                        const std::vector<std::optional<std::string>>& stacks);

}  // namespace bulkhead

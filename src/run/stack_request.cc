// Stacks on demand (see stack_request.h).
#include "src/run/stack_request.h"

namespace bulkhead {

StackRequest::StackRequest(std::vector<StackTarget> targets, Clock::time_point now, double grace_s)
    : targets_(std::move(targets)),
      next_poll_(now + kPoll),
      give_up_(now + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(grace_s))) {
  for (StackTarget& target : targets_) target.seen = target.from;
}

bool StackRequest::poll(Clock::time_point now,
                        const std::function<std::optional<uint64_t>(const StackTarget&)>& size) {
  if (now < next_poll_) return false;
  next_poll_ = now + kPoll;
  bool complete = true;
  for (StackTarget& target : targets_) {
    if (target.settled) continue;
    const std::optional<uint64_t> now_size = size(target);
    if (!now_size) {  // its worker ended: nothing more will come
      target.settled = true;
      continue;
    }
    // faulthandler writes the whole dump from its signal handler: grown, then still.
    const bool growing = *now_size > target.seen;
    target.settled = target.grew && !growing;
    target.grew |= growing;
    target.seen = *now_size;
    complete &= target.settled;
  }
  return complete || now >= give_up_;
}

void print_stack_report(Terminal& terminal, const std::vector<StackTarget>& targets,
                        const std::vector<std::optional<std::string>>& stacks) {
  const std::size_t count = targets.size();
  if (count == 0) {
    terminal.line("bulkhead: no test is running");
    return;
  }
  terminal.separator('=', std::to_string(count) + (count == 1 ? " running test" : " running tests"),
                     "yellow");
  for (std::size_t i = 0; i < count; ++i) {
    terminal.separator('-', running_test_heading(targets[i].test));
    if (!stacks[i]) {
      terminal.line("(its worker ended before its stack was read)");
    } else if (stacks[i]->empty()) {
      terminal.line("(no Python stack: the worker did not answer SIGUSR1)");
    } else {
      std::string text = *stacks[i];
      if (!text.empty() && text.back() == '\n') text.pop_back();
      terminal.line(text);
    }
  }
  terminal.separator('=', "the run goes on", "yellow");
}

}  // namespace bulkhead

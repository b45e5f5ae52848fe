// The supervisor's private parts (included only by supervisor.cc): what it keeps per worker
// slot, and the small helpers of its event loop (epoll tags, clocks, the ini timeout).
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "src/run/channel_guard.h"
#include "src/run/supervisor.h"
#include "src/run/worker_process.h"

namespace bulkhead {
namespace supervisor_detail {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

inline double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What an epoll event belongs to, packed into its 64-bit tag.
enum class Source : uint64_t {
  Timer = 1,
  Signal,
  Channel,
  Stdout,
  Stderr,
  Pidfd,
  Spare,  // a spare can take its next step (supervisor_spares.cc)
  Host,
  UserSignal,
  Keys
};

inline uint64_t tag(Source source, int slot = 0, uint32_t generation = 0) {
  return (static_cast<uint64_t>(slot) << 40) | (static_cast<uint64_t>(generation) << 8) |
         static_cast<uint64_t>(source);
}

// How often the stack dump file is checked between SIGUSR1 and the kill.
constexpr auto kStacksPoll = std::chrono::milliseconds(25);
// How long the terminal's and the record's writes may wait in their buffers (flush_output).
constexpr auto kOutputTick = std::chrono::milliseconds(100);

inline std::optional<double> parse_timeout_text(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(value > 0)) return std::nullopt;
  return value;
}

}  // namespace supervisor_detail

using supervisor_detail::Clock;
using supervisor_detail::Seconds;

struct Supervisor::Slot {
  std::unique_ptr<WorkerProcess> worker;
  int incarnations = 0;     // workers started in this slot so far
  uint32_t generation = 0;  // tags epoll events of the current worker
  bool collected = false;
  bool shutdown_sent = false;
  bool done = false;
  bool retired = false;          // never restarted (beyond the test count, or the run ends)
  bool blameless_death = false;  // its last worker died outside any test (restart budget)
  std::optional<std::size_t> running;
  double running_wall_start = 0;
  Clock::time_point running_since;
  std::optional<double> marker_timeout_s;
  std::optional<double> running_limit_s;
  std::optional<Clock::time_point> deadline;
  bool timeout_fired = false;
  std::optional<Clock::time_point> kill_at;
  std::optional<Clock::time_point> stacks_poll_at;  // after SIGUSR1: is the dump written yet?
  uint64_t stacks_seen = 0;                         // its size at the last poll
  uint64_t stacks_from = 0;    // where the dump a timeout reports starts (after on-demand ones)
  bool stacks_dumped = false;  // it grew since SIGUSR1
  std::optional<Clock::time_point> exit_by;
  ChannelGuard guard;  // what this worker may still say on its channel
  bool protocol_broken = false;
  std::string protocol_error;
  std::string live_stdout, live_stderr;
  uint64_t pids_limit_hits = 0;  // forks its sandbox refused at pids.max, as last seen
  bool unit_given = false;       // --isolate: its one unit was handed out
  int started_tests = 0;         // tests its current sandbox started: the next one's position
  // Its next sandbox, made ahead in zygote mode (supervisor_spares.cc): requested, set up,
  // then idle until this slot's next start takes it over.
  std::unique_ptr<WorkerProcess> spare;
  uint32_t spare_serial = 0;                     // tags the epoll events of its start
  std::optional<Clock::time_point> spare_ready;  // when it was ready; unset while starting

  // Whether its worker can answer a steal (started, not exiting, not being killed).
  bool can_give_back() const {
    return worker && collected && !done && !protocol_broken && !timeout_fired;
  }

  void release() {
    worker.reset();  // closes its fds (leaving the epoll set) and reaps the sandbox
    running.reset();
    deadline.reset();
    kill_at.reset();
    stacks_poll_at.reset();
    exit_by.reset();
  }

  // Each pending deadline of a live worker, to `consider(std::optional<time_point>)`.
  template <typename Consider>
  void deadlines(Consider&& consider) const {
    if (!worker) return;
    if (!timeout_fired) consider(deadline);
    consider(kill_at);
    consider(stacks_poll_at);
    consider(exit_by);
  }

  // Acts on the deadlines that have passed: at the test's deadline ask for the Python stacks
  // (faulthandler on SIGUSR1) and kill after a grace; kill a worker slow to exit after `done`.
  void check_deadlines(Clock::time_point now, double stack_dump_grace_s) {
    if (!worker) return;
    if (deadline && !timeout_fired && now >= *deadline && running) {
      timeout_fired = true;
      stacks_seen = worker->stacks_size();
      stacks_from = stacks_seen;
      worker->child().signal(SIGUSR1);
      kill_at = now + std::chrono::duration_cast<Clock::duration>(Seconds(stack_dump_grace_s));
      stacks_poll_at = now + supervisor_detail::kStacksPoll;
    }
    if (stacks_poll_at && now >= *stacks_poll_at) {
      // faulthandler writes the whole dump from its signal handler: once the file has grown
      // and then stopped growing, the grace has done its job and the kill need not wait.
      const uint64_t size = worker->stacks_size();
      const bool grew = size > stacks_seen;
      stacks_poll_at = now + supervisor_detail::kStacksPoll;
      if (!grew && stacks_dumped) kill_at = now;
      stacks_dumped |= grew;
      stacks_seen = size;
    }
    if (kill_at && now >= *kill_at) {
      kill_at.reset();
      stacks_poll_at.reset();
      worker->child().kill();
    }
    if (exit_by && now >= *exit_by) {
      exit_by.reset();
      worker->child().kill();
    }
  }
};

}  // namespace bulkhead

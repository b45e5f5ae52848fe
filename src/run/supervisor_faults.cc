// How a run stops and how workers end: --maxfail, SIGINT/SIGTERM, deadlines (test
// timeouts, --session-timeout), a worker's exit, the result of the test it was running,
// and its replacement.
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "src/report/outcome.h"
#include "src/run/collection_check.h"
#include "src/run/progress.h"
#include "src/run/stack_request.h"
#include "src/run/supervisor_loop.h"
#include "src/run/supervisor_slot.h"
#include "src/run/worker_fate.h"
#include "src/run/zygote.h"

namespace bulkhead {
using namespace supervisor_detail;

void Supervisor::Loop::count_failure() {
  ++failures_;
  if (maxfail_ > 0 && failures_ >= maxfail_) {
    stop_handing_out("stopping after " + std::to_string(failures_) + " failures");
  }
}

// Ends the run now: no more hand-outs, every sandbox killed.
void Supervisor::Loop::stop_everything() {
  if (scheduler_) scheduler_->stop();
  drop_spares();
  for (Slot& slot : slots_) {
    slot.retired = true;
    if (slot.worker) slot.worker->child().kill();
  }
}

void Supervisor::Loop::interrupt(int sig) {
  if (interrupted_) return;
  interrupted_ = true;
  not_run_reason_ = std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM");
  stop_reason_ = sig == SIGINT ? "KeyboardInterrupt" : "Terminated (SIGTERM)";
  exit_override_ = 2;
  stop_everything();
}

// -- time --------------------------------------------------------------------------------

void Supervisor::Loop::arm_timer() {
  std::optional<Clock::time_point> next = session_deadline_;
  auto consider = [&next](const std::optional<Clock::time_point>& when) {
    if (when && (!next || *when < *next)) next = when;
  };
  for (const Slot& slot : slots_) slot.deadlines(consider);
  consider(progress_.due());
  consider(output_due());
  if (stack_request_) consider(stack_request_->next_poll());
  // Unchanged and still ahead (most rounds: no deadline, or the same one): already set so.
  const auto now = Clock::now();
  if (next == armed_for_ && (!next || *next > now)) return;
  armed_for_ = next;
  itimerspec spec{};
  if (next) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - now);
    if (left.count() < 1000) left = std::chrono::nanoseconds(1000);
    spec.it_value.tv_sec = static_cast<time_t>(left.count() / 1000000000);
    spec.it_value.tv_nsec = static_cast<long>(left.count() % 1000000000);
  }
  timerfd_settime(timer_fd_.get(), 0, &spec, nullptr);
}

void Supervisor::Loop::check_deadlines() {
  const auto now = Clock::now();
  if (session_deadline_ && now >= *session_deadline_ && !session_expired_) {
    session_expired_ = true;
    stop_reason_ = "session timeout of " + format_seconds(*settings_.session_timeout_s) +
                   " reached (--session-timeout)";
    not_run_reason_ = "session timeout of " + format_seconds(*settings_.session_timeout_s) +
                      " reached before it ran";
    exit_override_ = 2;
    stop_everything();
    return;
  }
  for (Slot& slot : slots_) slot.check_deadlines(now, settings_.stack_dump_grace_s);
}

// -- a worker ended ------------------------------------------------------------------------

void Supervisor::Loop::worker_exited(int index) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  // Everything it wrote before dying is still buffered: take it first.
  if (slot.worker->channel_fd() >= 0) read_channel(index, /*until_empty=*/true);
  if (slot.worker->stdout_fd() >= 0) read_output(index, 1);
  if (slot.worker->stderr_fd() >= 0) read_output(index, 2);
  const sandbox::ExitInfo info = slot.worker->child().wait();
  for (std::string* pending : {&slot.live_stdout, &slot.live_stderr}) {
    if (!pending->empty()) terminal_.worker_output(slot.worker->name(), "\n", *pending);
  }
  const bool clean = slot.done && !slot.protocol_broken;
  if (slot.running) end_running_test(slot, info);  // before pytest_testnodedown
  host_.node_down(index, slot.generation, clean ? "" : describe_exit(slot.worker->name(), info));

  if (!slot.collected && !reference_) {
    // Died before the first collection anywhere: a broken command line, conftest or env.
    startup_failures_.push_back(describe_exit(slot.worker->name(), info) + "\n" +
                                slot.worker->stderr_tail());
    if (info.exited && info.exit_code >= 1 && info.exit_code <= 5) {
      startup_exit_code_ = info.exit_code;
    }
    slot.retired = true;
    if (settings_.hooks) settings_.hooks->worker_ended(index);
    slot.release();
    if (live_workers() == 0) fatal_ = true;
    return;
  }
  if (info.exited && info.exit_code == kPytestUsageError && !slot.running &&
      finish_order_.empty() && usage_error_.empty()) {
    // pytest's usage error after the collection (a bad -k expression): every worker would
    // meet it, and pytest reports nothing else.
    usage_error_ = describe_exit(slot.worker->name(), info) + "\n" + slot.worker->stderr_tail();
    if (settings_.hooks) settings_.hooks->worker_ended(index);
    slot.release();
    stop_everything();
    return;
  }

  const std::optional<std::size_t> lost = slot.running;
  if (scheduler_ && index < active_workers_) scheduler_->on_worker_lost(index, lost);
  if (settings_.hooks) settings_.hooks->worker_ended(index);
  slot.release();
  // Its held tests went back to the queue: workers that can still take tests get them now,
  // not at their next result (an idle one would otherwise wait for nothing).
  for (int i = 0; i < active_workers_; ++i) {
    if (i != index) refill(i);
  }
  // A worker that died in a test has had its culprit reported: replacing it always makes
  // progress, so only deaths with no test to blame (startup, between tests) use up
  // --max-worker-restart. One bad test never costs the rest of the run. A worker that ended
  // cleanly costs nothing either: its slot takes a fresh worker if requeued tests wait.
  // ...unless workers keep dying in tests with none finishing anywhere in between (a session
  // fixture or conftest that crashes every worker): past --max-worker-restart such deaths
  // count too, so the run ends instead of starting one worker per test.
  if (!clean && lost) ++deaths_without_progress_;
  worker_died_ |= !clean;
  slot.blameless_death =
      !clean && (!lost || deaths_without_progress_ > settings_.max_worker_restart);
  fill_idle_slots();
}

// Requeued tests (a dead worker's held ones) must reach a live worker. Workers that were told
// `shutdown` take no more, so an empty slot (its worker died, or ended cleanly after its
// shutdown) gets a fresh worker while more tests wait than live workers can still take.
void Supervisor::Loop::fill_idle_slots() {
  if (!scheduler_ || scheduler_->stopped() || interrupted_ || session_expired_) return;
  if (scheduler_->all_handed_out()) return;
  const std::size_t queued = scheduler_->never_handed_out().size();
  std::size_t receptive = 0;  // live workers that may still be handed tests
  for (int i = 0; i < active_workers_; ++i) {
    const Slot& slot = slots_[static_cast<std::size_t>(i)];
    receptive += slot.worker && !slot.shutdown_sent;
  }
  for (int i = 0; i < active_workers_ && receptive < queued; ++i) {
    Slot& slot = slots_[static_cast<std::size_t>(i)];
    if (slot.worker || slot.retired) continue;
    if (slot.blameless_death) {
      if (restarts_ >= settings_.max_worker_restart) {
        slot.retired = true;
        if (not_run_reason_.empty()) {
          not_run_reason_ =
              deaths_without_progress_ > settings_.max_worker_restart
                  ? std::to_string(deaths_without_progress_) +
                        " workers in a row died in a test with none finishing in between "
                        "(a crashing session fixture or conftest?); worker restarts "
                        "exhausted (--max-worker-restart " +
                        std::to_string(settings_.max_worker_restart) + ")"
                  : "worker restarts exhausted (--max-worker-restart " +
                        std::to_string(settings_.max_worker_restart) + ")";
        }
        continue;
      }
      ++restarts_;
    }
    start_worker(i);
    receptive += slots_[static_cast<std::size_t>(i)].worker != nullptr;
  }
}

// The worker died (or was killed) while running a test: record why, once.
void Supervisor::Loop::end_running_test(Slot& slot, const sandbox::ExitInfo& info) {
  const std::size_t index = *slot.running;
  if (counted_[index]) return;
  LiveTest& test = live(index);
  TestRecord& record = test.record;
  const double duration =
      std::chrono::duration_cast<Seconds>(Clock::now() - slot.running_since).count();
  WorkerProcess& worker = *slot.worker;
  if (interrupted_) {
    record_cause(record, Cause::NotRun, not_run_reason_);
  } else {
    FateInput input;
    input.worker = worker.name();
    input.exit = info;
    input.timed_out = slot.timeout_fired;
    input.test_limit_s = slot.running_limit_s;
    input.session_expired = session_expired_;
    input.session_limit_s = settings_.session_timeout_s;
    if (slot.timeout_fired || session_expired_) input.stacks = worker.read_stacks(slot.stacks_from);
    input.stderr_tail = worker.stderr_tail();
    if (slot.protocol_broken) input.protocol_error = slot.protocol_error;
    input.message_cut_off = !worker.channel_partial().empty();
    if (settings_.logs_kept) input.log_path = worker.log_path();
    const Fate fate = describe_fate(input);
    record_cause(record, fate.cause, fate.message, fate.details, slot.running_wall_start, duration);
  }
  record.worker = worker.name();
  test.displays.resize(record.phases.size());
  if (const auto phase = cause_phase_index(record)) {
    host_.lost(worker.slot(), slot.generation, record.nodeid, record.phases[*phase].when,
               record.cause_message, record.phases[*phase].duration);
  }
  if (record.cause != Cause::NotRun) count_failure();
  test_ended(index);
}

}  // namespace bulkhead

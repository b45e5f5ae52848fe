// Handing out tests: a worker's refill, work stealing between workers, released tests
// offered to idle workers, and the count of ended tests.
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

// -- scheduling ----------------------------------------------------------------------------

void Supervisor::Loop::refill(int index) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (!slot.worker || !slot.collected || slot.shutdown_sent || !scheduler_ ||
      index >= active_workers_) {
    return;
  }
  if (settings_.isolate_units) {  // one unit per sandbox, then it ends
    if (!slot.unit_given && !scheduler_->stopped()) {
      const std::vector<std::size_t> unit = scheduler_->next_batch(index);
      slot.unit_given = !unit.empty();
      if (slot.unit_given) send(index, protocol::encode_run(slot.guard.handed(unit)));
    }
    if (slot.unit_given || scheduler_->all_handed_out() || scheduler_->stopped()) {
      send(index, protocol::encode_shutdown());
      slot.shutdown_sent = true;
    }
    return;
  }
  // The worker runs a test only once it knows the next one (or that none will come), so it
  // must hold at least two, or be told there is no more.
  std::vector<std::size_t> batch;
  while (!scheduler_->stopped() && scheduler_->held(index) < 2) {
    const std::vector<std::size_t> more = scheduler_->next_batch(index);
    if (more.empty()) break;
    batch.insert(batch.end(), more.begin(), more.end());
  }
  if (!batch.empty()) send(index, protocol::encode_run(slot.guard.handed(batch)));
  // It holds one test and waits to learn the next, but what is left are suspects other
  // workers will take: let it run this one now rather than wait.
  if (!scheduler_->stopped() && !scheduler_->all_handed_out() && scheduler_->held(index) == 1 &&
      !scheduler_->has_work_for(index)) {
    send(index, protocol::encode_go());
  }
  if (scheduler_->stopped()) {
    send(index, protocol::encode_shutdown());
    slot.shutdown_sent = true;
    return;
  }
  if (steal_for(index)) return;
  // Nothing left to hand out. A shut-down worker takes no more, so while others still hold
  // tests (which come back if one dies), a worker that can go on without it (it holds two:
  // one to run, one to know as `nextitem`) is not told yet; the next refill asks again.
  if (scheduler_->all_handed_out() && (scheduler_->held(index) < 2 || !others_hold_tests(index))) {
    send(index, protocol::encode_shutdown());
    slot.shutdown_sent = true;
  }
}

bool Supervisor::Loop::others_hold_tests(int index) const {
  for (int i = 0; i < active_workers_; ++i) {
    if (i != index && slots_[static_cast<std::size_t>(i)].worker && scheduler_->held(i) > 0) {
      return true;
    }
  }
  return false;
}

// -- work stealing (Scheduler::steal_for) ---------------------------------------------------

// True while `thief` should wait for tests taken back from a busier worker.
bool Supervisor::Loop::steal_for(int thief) {
  std::vector<bool> can_give;
  for (int i = 0; i < active_workers_; ++i) can_give.push_back(slots_[i].can_give_back());
  const StealStep step = scheduler_->steal_for(thief, can_give);
  if (step.request) {
    Slot& victim = slots_[static_cast<std::size_t>(step.request->victim)];
    send(step.request->victim, protocol::encode_steal(victim.guard.asked(step.request->units)));
  }
  return step.wait;
}

// A worker's answer to a steal: what it gave back goes to the thief first, then to anyone.
void Supervisor::Loop::on(int index, protocol::ReleasedEvent& event) {
  if (!scheduler_ || index >= active_workers_) return;
  const int thief = scheduler_->thief_waiting_on(index);
  scheduler_->on_released(index, event.indices);
  if (thief >= 0) refill(thief);
  offer_work(thief);
  fill_idle_slots();
}

// Workers waiting for work to steal, or for tests given back, look again.
void Supervisor::Loop::offer_work(int except) {
  for (int i = 0; scheduler_ && i < active_workers_; ++i) {
    if (i != except && scheduler_->held(i) <= Scheduler::kStealBelowHeld) refill(i);
  }
}

void Supervisor::Loop::test_ended(std::size_t index) {
  TestRecord& record = live(index).record;
  if (record.finished && counted_[index]) {
    settle(index);
    return;
  }
  record.finished = true;
  counted_[index] = true;
  ++counted_total_;
  finish_order_.push_back(index);
  progress_.finished(index);
  terminal_.test_finished(record, counted_total_, scheduled_total_);
  if (settings_.observer) {
    settings_.observer->test_ended(record);
    records_unflushed_ = true;
  }
  settle(index);
}

// The test's record while it runs: new at its first event, or back from the store when an
// event arrives after it ended.
Supervisor::Loop::LiveTest& Supervisor::Loop::live(std::size_t index) {
  auto [it, inserted] = live_.try_emplace(index);
  if (!inserted) return it->second;
  if (store_.contains(index)) {
    it->second.record = store_.load(index, &it->second.displays);
  } else {
    it->second.record.index = index;
    it->second.record.nodeid = reference_->items[index].nodeid;
  }
  return it->second;
}

// An ended test's record goes to the store; only its summary stays in memory.
void Supervisor::Loop::settle(std::size_t index) {
  if (!counted_[index]) return;
  auto it = live_.find(index);
  if (it == live_.end()) return;
  store_.put(it->second.record, it->second.displays);
  live_.erase(it);
}

}  // namespace bulkhead

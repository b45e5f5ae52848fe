// Spares (zygote mode): each slot's next sandbox, forked from the zygote and set up while the
// slot's current sandbox runs, then idle (its worker waits for its first command) until that
// one ends. A replacement (after a death, or the next `--isolate` unit) is then a hand-over, not
// a fork and a setup. A spare is forked from the zygote like any replacement, so it has never
// seen a previous sandbox; it has its own cgroup leaf (gw<i>-<incarnation>), and nothing of it
// shows (log marker, cleared stack dumps, the slot's epoll tags) until it takes over.
#include <sys/epoll.h>

#include <chrono>

#include "src/run/supervisor_loop.h"
#include "src/run/supervisor_slot.h"

namespace bulkhead {
using namespace supervisor_detail;

// Whether slot `index` should have a spare now: its sandbox runs tests and a replacement may
// still be needed (more units to hand out, or held tests a death would send back).
bool Supervisor::Loop::spare_wanted(int index) const {
  using Spares = SupervisorSettings::Spares;
  if (settings_.spares == Spares::Off || spares_off_ || !zygote_ || !scheduler_ ||
      scheduler_->stopped()) {
    return false;
  }
  if (settings_.spares == Spares::AfterADeath && !worker_died_) return false;
  if (interrupted_ || session_expired_ || fatal_ || index >= active_workers_) return false;
  const Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (slot.retired || !slot.worker || !slot.collected) return false;
  if (settings_.isolate_units) return scheduler_->queued_units() > 0;
  return !scheduler_->all_handed_out() || scheduler_->held(index) > 1;
}

// Ends the spares no slot needs any more and asks for one missing spare, one request at the
// zygote at a time (it serves them in order: a replacement needed now must not queue behind
// many); spares whose zygote part is done set up side by side.
void Supervisor::Loop::top_up_spares() {
  if (settings_.spares == SupervisorSettings::Spares::Off) return;
  // --isolate: no more spares than units left to hand out.
  const std::size_t allowed =
      settings_.isolate_units && scheduler_ ? scheduler_->queued_units() : slots_.size();
  std::size_t kept = 0;
  bool requested = false;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    Slot& slot = slots_[static_cast<std::size_t>(i)];
    if (!slot.spare) continue;
    if (kept >= allowed || !spare_wanted(i)) {
      drop_spare(slot);
      continue;
    }
    ++kept;
    requested |= slot.spare->requested();
  }
  if (requested) return;
  for (int i = 0; i < static_cast<int>(slots_.size()) && kept < allowed; ++i) {
    Slot& slot = slots_[static_cast<std::size_t>(i)];
    if (slot.spare || !spare_wanted(i)) continue;
    try {
      slot.spare =
          std::make_unique<WorkerProcess>(launch_, i, slot.incarnations, WorkerProcess::Spare{});
    } catch (const std::exception& error) {
      slot.spare.reset();
      spares_fail("asking for " + worker_name(launch_, i) + "'s: " + error.what());
      return;
    }
    slot.spare_ready.reset();
    watch(slot.spare->starting_fd(), EPOLLIN, tag(Source::Spare, i, ++slot.spare_serial));
    return;
  }
}

// Slot `index`'s spare can take its next step: the zygote forked it and its init said who it
// is (it is then moved into its cgroup and released), or its init reported on its setup.
void Supervisor::Loop::spare_starting(int index, uint32_t serial) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (!slot.spare || slot.spare_serial != serial || slot.spare_ready) return;
  unwatch(slot.spare->starting_fd());
  try {
    if (slot.spare->advance()) {
      slot.spare_ready = Clock::now();
    } else {
      watch(slot.spare->starting_fd(), EPOLLIN, tag(Source::Spare, index, ++slot.spare_serial));
    }
  } catch (const std::exception& error) {
    slot.spare.reset();
    spares_fail(worker_name(launch_, index) + "'s did not start: " + error.what());
  }
}

// Slot `index`'s spare, for its next start: ready (waiting for what is left when it is still
// starting), alive, and marked in the log as the slot's new sandbox. Null when there is none
// to use (the slot then starts a sandbox as usual).
std::unique_ptr<WorkerProcess> Supervisor::Loop::take_spare(int index) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  std::unique_ptr<WorkerProcess> spare = std::move(slot.spare);
  if (!spare || !zygote_) return nullptr;
  std::string note;
  try {
    if (!slot.spare_ready) {
      unwatch(spare->starting_fd());
      spare->finish();
      note = ", a spare sandbox, still starting when needed";
    } else {
      const auto waited =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *slot.spare_ready);
      note =
          ", a spare sandbox ready " + std::to_string(waited.count()) + " ms before it was needed";
    }
  } catch (const std::exception& error) {
    spares_fail(spare->name() + "'s did not start: " + error.what());
    return nullptr;
  }
  if (!spare->child().running()) return nullptr;  // it died idle: dropped, a fresh one starts
  spare->take_over(note);
  return spare;
}

void Supervisor::Loop::drop_spare(Slot& slot) {
  if (!slot.spare) return;
  if (!slot.spare_ready) unwatch(slot.spare->starting_fd());
  slot.spare.reset();  // kills and reaps it, removes its cgroup (or abandons its request)
  slot.spare_ready.reset();
}

void Supervisor::Loop::drop_spares() {
  for (Slot& slot : slots_) drop_spare(slot);
}

// A spare could not be made: none from now on (replacements are started as before). Said once,
// unless the zygote is gone (its own message says so).
void Supervisor::Loop::spares_fail(const std::string& why) {
  drop_spares();
  spares_off_ = true;
  if (!zygote_ || !zygote_->alive() || terminal_.quiet()) return;
  terminal_.line("bulkhead: no spare sandboxes from now on: " + why.substr(0, why.find('\n')),
                 "yellow");
}

}  // namespace bulkhead

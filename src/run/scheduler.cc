// The scheduler: groups collected tests into units by --dist mode, orders long units first when
// durations are known, hands them out with guided self-scheduling (batches shrink, by expected
// time, as the queue drains), requeues a lost worker's tests, and plans work steals at the tail.
#include "src/run/scheduler.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace bulkhead {

namespace {

// Refill policy. A worker is refilled once it holds at most kLowWatermark unfinished tests, so
// the next batch arrives while it still runs the last ones. A batch is about
// remaining / (kFactor * workers) of the remaining work (tests, or expected seconds once
// durations are known), at most kMaxBatch tests: large early on, one unit at a time in the tail
// so no worker sits on a backlog while others idle.
constexpr std::size_t kLowWatermark = 2;
constexpr std::size_t kFactor = 2;
constexpr std::size_t kMaxBatch = 32;

// Longest-first ordering: units longer than kLongFactor x the median unit go first, longest
// first; the others keep collection order (module and class fixtures stay warm). Medians below
// kNoiseFloor seconds count as kNoiseFloor, so sub-millisecond jitter does not reorder.
constexpr double kLongFactor = 2.0;
constexpr double kNoiseFloor = 1e-3;

// A worker's first kCommitted unfinished tests are never stolen: the one it runs and the one
// pytest already knows as `nextitem` (the running test's teardown depends on it).
constexpr std::size_t kCommitted = 2;

}  // namespace

Scheduler::Scheduler(DistMode mode, const std::vector<ScheduledItem>& items, int workers,
                     WorkPlan plan)
    : weight_(items.size(), 1.0),
      unit_of_(items.size()),
      state_(items.size(), State::Done),
      owner_(items.size(), -1),
      workers_(static_cast<std::size_t>(std::max(workers, 1))),
      thief_of_(workers_.size(), -1) {
  const std::size_t n = items.size();
  if (!plan.selected.empty() && plan.selected.size() != n) {
    throw std::invalid_argument("scheduler: selection size differs from the collection");
  }
  if (!plan.expected_s.empty()) {
    if (plan.expected_s.size() != n) {
      throw std::invalid_argument("scheduler: durations size differs from the collection");
    }
    weight_ = std::move(plan.expected_s);  // not a second copy of every test's time
    durations_known_ = true;
  }
  std::vector<std::vector<std::size_t>> units;
  if (plan.sequence.empty()) {
    units = group_units(mode, items, plan.selected);
  } else {
    for (std::size_t index : plan.sequence) {
      if (index >= n || state_[index] == State::Queued) {
        throw std::invalid_argument("scheduler: a sequence names an index twice or past the end");
      }
      state_[index] = State::Queued;
      units.push_back({index});
    }
  }
  units_.reserve(units.size());
  for (std::vector<std::size_t>& unit : units) {
    for (std::size_t index : unit) {
      state_[index] = State::Queued;
      queued_weight_ += weight_[index];
    }
    scheduled_ += unit.size();
    queue_.push_back(add_unit(std::move(unit)));
  }
  queued_tests_ = scheduled_;
  if (durations_known_ && plan.sequence.empty()) {
    order_longest_first(plan.order_s.size() == n ? plan.order_s : weight_);
  }
}

void Scheduler::order_longest_first(const std::vector<double>& order_s) {
  if (queue_.size() < 2) return;
  // Ordered by the weights themselves (no call times): a unit's key is its weight, summed alike.
  std::vector<double> own_key;
  if (&order_s != &weight_) {
    own_key.assign(units_.size(), 0);
    for (std::size_t unit : queue_) {
      for (std::size_t index : units_[unit]) own_key[unit] += order_s[index];
    }
  }
  const std::vector<double>& key = &order_s == &weight_ ? unit_weight_ : own_key;
  std::vector<double> keys;
  keys.reserve(queue_.size());
  for (std::size_t unit : queue_) keys.push_back(key[unit]);
  std::nth_element(keys.begin(), keys.begin() + static_cast<long>(keys.size() / 2), keys.end());
  const double threshold = kLongFactor * std::max(keys[keys.size() / 2], kNoiseFloor);
  keys = {};
  std::vector<std::size_t> long_units;
  for (std::size_t unit : queue_) {
    if (key[unit] > threshold) long_units.push_back(unit);
  }
  // In place: the others keep their order behind the long ones.
  const auto is_long = [&key, threshold](std::size_t unit) { return key[unit] > threshold; };
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(), is_long), queue_.end());
  std::stable_sort(long_units.begin(), long_units.end(),
                   [&key](std::size_t a, std::size_t b) { return key[a] > key[b]; });
  queue_.insert(queue_.begin(), long_units.begin(), long_units.end());
}

std::size_t Scheduler::add_unit(std::vector<std::size_t> indices) {
  const std::size_t id = units_.size();
  double weight = 0;
  for (std::size_t index : indices) {
    unit_of_[index] = id;
    weight += weight_[index];
  }
  unit_left_.push_back(indices.size());
  unit_weight_.push_back(weight);
  suspect_.push_back(false);
  units_.push_back(std::move(indices));
  return id;
}

void Scheduler::check_worker(int worker) const {
  if (worker < 0 || static_cast<std::size_t>(worker) >= workers_.size()) {
    throw std::out_of_range("scheduler: no worker slot " + std::to_string(worker));
  }
}

double Scheduler::batch_target() const {
  const std::size_t share = kFactor * workers_.size();
  if (durations_known_) return queued_weight_ / static_cast<double>(share);
  return static_cast<double>(
      std::clamp<std::size_t>((queued_tests_ + share - 1) / share, 1, kMaxBatch));
}

std::vector<std::size_t> Scheduler::next_batch(int worker) {
  check_worker(worker);
  Worker& w = workers_[static_cast<std::size_t>(worker)];
  std::vector<std::size_t> batch;
  if (stopped_ || w.held > kLowWatermark) return batch;
  double batch_weight = 0;
  auto take = [&](std::deque<std::size_t>& from) {
    const std::size_t unit = from.front();
    from.pop_front();
    const std::vector<std::size_t>& indices = units_[unit];
    queued_tests_ -= indices.size();
    queued_weight_ -= unit_weight_[unit];
    for (std::size_t index : indices) {
      state_[index] = State::Held;
      owner_[index] = worker;
    }
    batch.insert(batch.end(), indices.begin(), indices.end());
    batch_weight += unit_weight_[unit];
    w.units.push_back(unit);
  };
  if (w.suspects == 0 && !suspects_.empty()) {
    take(suspects_);
    ++w.suspects;
  }
  const double target = one_unit_ ? 0 : batch_target();
  if (one_unit_ && batch.empty() && !queue_.empty()) take(queue_);
  // Whole units only; the first may exceed the target, later ones must fit within it.
  while (!queue_.empty() && batch.size() < kMaxBatch && batch_weight < target) {
    const std::size_t next = queue_.front();
    if (!batch.empty() && (batch_weight + unit_weight_[next] > target ||
                           batch.size() + units_[next].size() > kMaxBatch)) {
      break;
    }
    take(queue_);
  }
  w.held += batch.size();
  w.held_weight += batch_weight;
  if (queued_tests_ == 0) queued_weight_ = 0;  // no drift from float subtraction
  return batch;
}

bool Scheduler::has_work_for(int worker) const {
  check_worker(worker);
  if (stopped_) return false;
  return !queue_.empty() ||
         (!suspects_.empty() && workers_[static_cast<std::size_t>(worker)].suspects == 0);
}

void Scheduler::on_finished(int worker, std::size_t index) {
  check_worker(worker);
  // A stale or repeated report (e.g. after the worker was declared lost) changes nothing.
  if (index >= state_.size() || state_[index] != State::Held || owner_[index] != worker) return;
  Worker& w = workers_[static_cast<std::size_t>(worker)];
  state_[index] = State::Done;
  owner_[index] = -1;
  --w.held;
  w.held_weight = w.held == 0 ? 0 : std::max(0.0, w.held_weight - weight_[index]);
  w.refused = false;
  const std::size_t unit = unit_of_[index];
  if (--unit_left_[unit] == 0 && suspect_[unit]) --w.suspects;
  // Workers run their tests in order, so finished units leave from the front.
  while (!w.units.empty() && unit_left_[w.units.front()] == 0) w.units.pop_front();
}

std::vector<std::size_t> Scheduler::on_worker_lost(int worker, std::optional<std::size_t> lost) {
  check_worker(worker);
  Worker& w = workers_[static_cast<std::size_t>(worker)];
  if (lost && *lost < state_.size() && state_[*lost] == State::Held && owner_[*lost] == worker) {
    state_[*lost] = State::Done;  // the caller reports it (timeout, crash, OOM)
    owner_[*lost] = -1;
    --unit_left_[unit_of_[*lost]];
  }
  // What is left of each held unit becomes a new unit, so a partly run file stays together.
  std::vector<std::size_t> requeued;
  std::vector<std::size_t> new_units;
  for (std::size_t unit : w.units) {
    if (unit_left_[unit] == 0) continue;
    std::vector<std::size_t> rest;
    rest.reserve(unit_left_[unit]);
    for (std::size_t index : units_[unit]) {
      if (state_[index] != State::Held || owner_[index] != worker) continue;
      state_[index] = State::Queued;
      owner_[index] = -1;
      queued_weight_ += weight_[index];
      rest.push_back(index);
    }
    unit_left_[unit] = 0;
    requeued.insert(requeued.end(), rest.begin(), rest.end());
    queued_tests_ += rest.size();
    new_units.push_back(add_unit(std::move(rest)));
  }
  for (std::size_t unit : new_units) suspect_[unit] = true;
  suspects_.insert(suspects_.begin(), new_units.begin(), new_units.end());
  w = Worker();
  // Its pending steal answer will never come; a steal it was waiting for still may.
  thief_of_[static_cast<std::size_t>(worker)] = -1;
  return requeued;
}

std::vector<std::size_t> Scheduler::stealable_units(int worker, double* unfinished_weight) const {
  const Worker& w = workers_[static_cast<std::size_t>(worker)];
  if (unfinished_weight != nullptr) *unfinished_weight = w.held_weight;
  std::vector<std::size_t> out;
  std::size_t unfinished_seen = 0;
  for (std::size_t unit : w.units) {
    if (unit_left_[unit] == 0) continue;
    bool untouched = unit_left_[unit] == units_[unit].size();
    bool committed = false;
    for (std::size_t index : units_[unit]) {
      const bool mine = state_[index] == State::Held && owner_[index] == worker;
      if (!mine) {
        untouched = false;
        continue;
      }
      if (unfinished_seen++ < kCommitted) committed = true;
    }
    if (untouched && !committed) out.push_back(unit);
  }
  return out;
}

std::optional<StealRequest> Scheduler::plan_steal(int thief, const std::vector<bool>& can_give) {
  check_worker(thief);
  if (stopped_ || has_work_for(thief) || steal_pending(thief)) return std::nullopt;
  const double thief_load = workers_[static_cast<std::size_t>(thief)].held_weight;
  // Victims, busiest first (ties: lowest slot), each with the units it could give.
  struct Candidate {
    int worker;
    double load;
    std::vector<std::size_t> units;
  };
  std::vector<Candidate> candidates;
  for (int v = 0; v < static_cast<int>(workers_.size()); ++v) {
    const Worker& w = workers_[static_cast<std::size_t>(v)];
    if (v == thief || w.asked || w.refused) continue;
    if (!can_give.empty() && !can_give[static_cast<std::size_t>(v)]) continue;
    Candidate c{v, 0, {}};
    c.units = stealable_units(v, &c.load);
    if (!c.units.empty()) candidates.push_back(std::move(c));
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.load > b.load; });
  for (const Candidate& c : candidates) {
    // From the end of its hand-out (what it would run last), while moving a unit leaves the
    // thief with less than the victim keeps: the longer queue gets shorter.
    std::vector<std::size_t> taken;
    double moved = 0;
    for (auto it = c.units.rbegin(); it != c.units.rend(); ++it) {
      const double w = unit_weight_[*it];
      if (!(thief_load + moved + w < c.load - moved)) break;
      taken.push_back(*it);
      moved += w;
    }
    if (taken.empty()) continue;
    StealRequest request;
    request.victim = c.worker;
    for (auto it = taken.rbegin(); it != taken.rend(); ++it) request.units.push_back(units_[*it]);
    workers_[static_cast<std::size_t>(c.worker)].asked = true;
    thief_of_[static_cast<std::size_t>(c.worker)] = thief;
    return request;
  }
  return std::nullopt;
}

StealStep Scheduler::steal_for(int thief, const std::vector<bool>& can_give) {
  check_worker(thief);
  StealStep step;
  if (stopped_ || !all_handed_out() || held(thief) > kStealBelowHeld) return step;
  if (steal_pending(thief)) {
    step.wait = true;
    return step;
  }
  step.request = plan_steal(thief, can_give);
  step.wait = step.request.has_value() || stealable_work_exists(thief, can_give);
  return step;
}

std::size_t Scheduler::on_released(int victim, const std::vector<std::size_t>& indices) {
  check_worker(victim);
  Worker& w = workers_[static_cast<std::size_t>(victim)];
  const bool was_asked = w.asked;
  w.asked = false;
  thief_of_[static_cast<std::size_t>(victim)] = -1;
  // Group what it gave back by the unit each index belongs to, in hand-out order.
  std::vector<std::size_t> giving(units_.size(), 0);
  std::size_t taken = 0;
  for (std::size_t index : indices) {
    if (index >= state_.size() || state_[index] != State::Held || owner_[index] != victim) {
      continue;
    }
    state_[index] = State::Queued;  // marks it; the unit rebuild below collects it
    ++giving[unit_of_[index]];
    ++taken;
  }
  if (was_asked && taken == 0) w.refused = true;
  if (taken == 0) return 0;
  std::vector<std::size_t> to_queue;
  std::vector<std::size_t> to_suspects;
  for (std::size_t unit : w.units) {
    if (giving[unit] == 0) continue;
    std::vector<std::size_t> back;
    for (std::size_t index : units_[unit]) {
      if (state_[index] == State::Queued && owner_[index] == victim) {
        owner_[index] = -1;
        w.held_weight -= weight_[index];
        queued_weight_ += weight_[index];
        back.push_back(index);
      }
    }
    unit_left_[unit] -= back.size();
    if (unit_left_[unit] == 0 && suspect_[unit]) --w.suspects;
    queued_tests_ += back.size();
    const bool suspect = suspect_[unit];
    const std::size_t id = add_unit(std::move(back));
    suspect_[id] = suspect;
    (suspect ? to_suspects : to_queue).push_back(id);
    giving[unit] = 0;
  }
  w.held -= taken;
  if (w.held == 0 || w.held_weight < 0) w.held_weight = 0;
  while (!w.units.empty() && unit_left_[w.units.front()] == 0) w.units.pop_front();
  queue_.insert(queue_.begin(), to_queue.begin(), to_queue.end());
  suspects_.insert(suspects_.begin(), to_suspects.begin(), to_suspects.end());
  return taken;
}

bool Scheduler::steal_pending(int thief) const {
  check_worker(thief);
  for (std::size_t v = 0; v < workers_.size(); ++v) {
    if (workers_[v].asked && thief_of_[v] == thief) return true;
  }
  return false;
}

int Scheduler::thief_waiting_on(int victim) const {
  check_worker(victim);
  return workers_[static_cast<std::size_t>(victim)].asked
             ? thief_of_[static_cast<std::size_t>(victim)]
             : -1;
}

bool Scheduler::stealable_work_exists(int thief, const std::vector<bool>& can_give) const {
  check_worker(thief);
  if (stopped_) return false;
  for (int v = 0; v < static_cast<int>(workers_.size()); ++v) {
    if (v == thief || (!can_give.empty() && !can_give[static_cast<std::size_t>(v)])) continue;
    if (!stealable_units(v, nullptr).empty()) return true;
  }
  return false;
}

void Scheduler::stop() { stopped_ = true; }

bool Scheduler::stopped() const { return stopped_; }

bool Scheduler::all_handed_out() const { return queue_.empty() && suspects_.empty(); }

std::size_t Scheduler::held(int worker) const {
  check_worker(worker);
  return workers_[static_cast<std::size_t>(worker)].held;
}

bool Scheduler::holds(int worker, std::size_t index) const {
  check_worker(worker);
  return index < state_.size() && state_[index] == State::Held && owner_[index] == worker;
}

std::vector<std::size_t> Scheduler::never_handed_out() const {
  std::vector<std::size_t> out;
  out.reserve(queued_tests_);
  for (const auto* queue : {&suspects_, &queue_}) {
    for (std::size_t unit : *queue) {
      out.insert(out.end(), units_[unit].begin(), units_[unit].end());
    }
  }
  return out;
}

std::size_t Scheduler::scheduled() const { return scheduled_; }

bool Scheduler::durations_known() const { return durations_known_; }

}  // namespace bulkhead

// The scheduler: groups collected tests into units by --dist mode and hands them out with
// guided self-scheduling (batches shrink as the queue drains), requeueing a lost worker's tests.
#include "src/run/scheduler.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace bulkhead {

namespace {

// Refill policy. A worker is refilled once it holds at most kLowWatermark unfinished tests, so
// the next batch arrives while it still runs the last ones. A batch is about
// remaining / (kFactor * workers) tests, clamped to [1, kMaxBatch]: large early on, one test at
// a time in the tail so no worker sits on a backlog while others idle.
constexpr std::size_t kLowWatermark = 2;
constexpr std::size_t kFactor = 2;
constexpr std::size_t kMaxBatch = 32;

// The parametrization suffix starts at the first '[' after the first "::" (a '[' in the file
// path is not one). Returns the node id without it.
std::string_view strip_params(std::string_view nodeid) {
  const std::size_t sep = nodeid.find("::");
  if (sep == std::string_view::npos) return nodeid;
  const std::size_t bracket = nodeid.find('[', sep);
  return bracket == std::string_view::npos ? nodeid : nodeid.substr(0, bracket);
}

// loadfile: the file, i.e. everything before the first "::".
std::string_view file_key(std::string_view nodeid) { return nodeid.substr(0, nodeid.find("::")); }

// loadscope: xdist's rule, everything before the last "::" (module for functions, class for
// methods); "::" inside a parametrization does not count.
std::string_view scope_key(std::string_view nodeid) {
  const std::string_view base = strip_params(nodeid);
  const std::size_t sep = base.rfind("::");
  return sep == std::string_view::npos ? base : base.substr(0, sep);
}

}  // namespace

std::optional<DistMode> parse_dist_mode(const std::string& text) {
  if (text == "load") return DistMode::Load;
  if (text == "loadfile") return DistMode::LoadFile;
  if (text == "loadscope") return DistMode::LoadScope;
  if (text == "loadgroup") return DistMode::LoadGroup;
  return std::nullopt;
}

const char* dist_mode_name(DistMode mode) {
  switch (mode) {
    case DistMode::Load:
      return "load";
    case DistMode::LoadFile:
      return "loadfile";
    case DistMode::LoadScope:
      return "loadscope";
    case DistMode::LoadGroup:
      return "loadgroup";
  }
  return "load";
}

Scheduler::Scheduler(DistMode mode, std::vector<ScheduledItem> items, int workers)
    : items_(std::move(items)),
      unit_of_(items_.size()),
      state_(items_.size(), State::Queued),
      owner_(items_.size(), -1),
      workers_(static_cast<std::size_t>(std::max(workers, 1))) {
  const std::size_t n = items_.size();
  units_.reserve(n);
  unit_left_.reserve(n);
  // Units in order of their first test; a key seen again adds to its unit.
  std::unordered_map<std::string_view, std::size_t> unit_by_key;
  unit_by_key.reserve(mode == DistMode::Load ? 0 : n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& nodeid = items_[i].nodeid;
    std::string_view key;
    switch (mode) {
      case DistMode::Load:
        break;
      case DistMode::LoadFile:
        key = file_key(nodeid);
        break;
      case DistMode::LoadScope:
        key = scope_key(nodeid);
        break;
      case DistMode::LoadGroup:
        key = items_[i].group;
        break;
    }
    if (key.empty()) {  // its own unit: load mode, or no xdist_group in loadgroup
      queue_.push_back(add_unit({i}));
      continue;
    }
    auto [it, inserted] = unit_by_key.try_emplace(key, units_.size());
    if (inserted) {
      queue_.push_back(add_unit({i}));
    } else {
      units_[it->second].push_back(i);
      ++unit_left_[it->second];
      unit_of_[i] = it->second;
    }
  }
  queued_tests_ = n;
}

std::size_t Scheduler::add_unit(std::vector<std::size_t> indices) {
  const std::size_t id = units_.size();
  for (std::size_t index : indices) unit_of_[index] = id;
  unit_left_.push_back(indices.size());
  suspect_.push_back(false);
  units_.push_back(std::move(indices));
  return id;
}

void Scheduler::check_worker(int worker) const {
  if (worker < 0 || static_cast<std::size_t>(worker) >= workers_.size()) {
    throw std::out_of_range("scheduler: no worker slot " + std::to_string(worker));
  }
}

std::size_t Scheduler::batch_target() const {
  const std::size_t share = kFactor * workers_.size();
  return std::clamp<std::size_t>((queued_tests_ + share - 1) / share, 1, kMaxBatch);
}

std::vector<std::size_t> Scheduler::next_batch(int worker) {
  check_worker(worker);
  Worker& w = workers_[static_cast<std::size_t>(worker)];
  std::vector<std::size_t> batch;
  if (stopped_ || w.held > kLowWatermark) return batch;
  auto take = [&](std::deque<std::size_t>& from) {
    const std::size_t unit = from.front();
    from.pop_front();
    const std::vector<std::size_t>& indices = units_[unit];
    queued_tests_ -= indices.size();
    for (std::size_t index : indices) {
      state_[index] = State::Held;
      owner_[index] = worker;
    }
    batch.insert(batch.end(), indices.begin(), indices.end());
    w.units.push_back(unit);
  };
  if (w.suspects == 0 && !suspects_.empty()) {
    take(suspects_);
    ++w.suspects;
  }
  const std::size_t target = batch_target();
  // Whole units only; the first may exceed the target, later ones must fit within it.
  while (!queue_.empty() && batch.size() < target) {
    if (!batch.empty() && batch.size() + units_[queue_.front()].size() > target) break;
    take(queue_);
  }
  w.held += batch.size();
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
      rest.push_back(index);
    }
    unit_left_[unit] = 0;
    requeued.insert(requeued.end(), rest.begin(), rest.end());
    queued_tests_ += rest.size();
    new_units.push_back(add_unit(std::move(rest)));
  }
  for (std::size_t unit : new_units) suspect_[unit] = true;
  suspects_.insert(suspects_.begin(), new_units.begin(), new_units.end());
  w.units.clear();
  w.held = 0;
  w.suspects = 0;
  return requeued;
}

void Scheduler::stop() { stopped_ = true; }

bool Scheduler::stopped() const { return stopped_; }

bool Scheduler::all_handed_out() const { return queue_.empty() && suspects_.empty(); }

std::size_t Scheduler::held(int worker) const {
  check_worker(worker);
  return workers_[static_cast<std::size_t>(worker)].held;
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

}  // namespace bulkhead

// The channel's trust rules (see channel_guard.h).
#include "src/run/channel_guard.h"

#include <algorithm>

namespace bulkhead {
namespace {

using protocol::CollectedItem;

// "test 7 (t.py::b)", or "test index 99 (only 42 tests were collected)".
std::string test_name(std::size_t index, const std::vector<CollectedItem>& collection) {
  if (index >= collection.size()) {
    return "test index " + std::to_string(index) + " (only " + std::to_string(collection.size()) +
           " tests were collected)";
  }
  return "test " + std::to_string(index) + " (" + collection[index].nodeid + ")";
}

std::string quoted(const char* kind) { return std::string("`") + kind + "`"; }

}  // namespace

const std::vector<std::size_t>& ChannelGuard::handed(const std::vector<std::size_t>& indices) {
  queue_.insert(queue_.end(), indices.begin(), indices.end());
  return indices;
}

const std::vector<std::vector<std::size_t>>& ChannelGuard::asked(
    const std::vector<std::vector<std::size_t>>& units) {
  std::vector<std::size_t> indices;
  for (const auto& unit : units) indices.insert(indices.end(), unit.begin(), unit.end());
  steals_.push_back(std::move(indices));
  return units;
}

bool ChannelGuard::ended(std::size_t index) const { return index < ended_.size() && ended_[index]; }

std::optional<std::string> ChannelGuard::check_start(std::size_t index,
                                                     const Collection& collection) {
  // Built only for a refusal: an admitted `start` (every test's) costs no string.
  const auto what = [&] { return "`start` of " + test_name(index, collection); };
  if (!collected_) return what() + " before this worker's `collected`";
  if (index >= collection.size()) return what();
  if (done_) return what() + " after its `done`";
  if (ended(index)) return what() + ", which this worker already ran (a second result)";
  if (running_) {
    if (*running_ == index) return "a second " + what();
    return what() + " while " + test_name(*running_, collection) + " is running";
  }
  if (queue_.empty() || queue_.front() != index) {
    if (std::find(queue_.begin(), queue_.end(), index) == queue_.end()) {
      return what() + ", which this worker was not given";
    }
    return what() + " before " + test_name(queue_.front(), collection) + ", handed to it first";
  }
  return std::nullopt;
}

std::optional<std::string> ChannelGuard::check_released(const std::vector<std::size_t>& indices,
                                                        const Collection& collection) {
  if (steals_.empty()) return std::string("`released` with no `steal` to answer");
  const std::vector<std::size_t>& asked = steals_.front();
  // All or nothing: a refused answer to a steal gives nothing back.
  std::deque<std::size_t> left = queue_;
  for (const std::size_t index : indices) {
    const std::string what = "`released` " + test_name(index, collection);
    if (index >= collection.size()) return what;
    if (std::find(asked.begin(), asked.end(), index) == asked.end()) {
      return what + ", which the `steal` it answers did not ask for";
    }
    if (ended(index)) return what + ", which this worker already finished";
    if (running_ == index) return what + ", which this worker is running";
    const auto it = std::find(left.begin(), left.end(), index);
    if (it == left.end()) return what + ", which this worker does not hold";
    left.erase(it);
  }
  queue_ = std::move(left);
  steals_.pop_front();
  return std::nullopt;
}

std::optional<std::string> ChannelGuard::check_running(const char* kind, std::size_t index,
                                                       const Collection& collection) {
  const auto what = [&] { return quoted(kind) + " for " + test_name(index, collection); };
  if (!collected_) return what() + " before this worker's `collected`";
  if (index >= collection.size()) return what();
  if (ended(index)) return what() + ", which this worker already finished (a second result)";
  if (running_ == index) return std::nullopt;
  if (std::find(queue_.begin(), queue_.end(), index) != queue_.end()) {
    return what() + ", which this worker has not started";
  }
  return what() + ", which this worker was not given";
}

protocol::Event ChannelGuard::accept(std::string_view line, const Collection* collection) {
  protocol::Event event = protocol::decode_event(line);
  if (auto refused = admit(event, collection)) throw protocol::ProtocolError(*refused);
  return event;
}

std::optional<std::string> ChannelGuard::admit(const protocol::Event& event,
                                               const Collection* agreed) {
  static const Collection kNone;
  const Collection& collection = agreed != nullptr ? *agreed : kNone;
  if (const auto* collected = std::get_if<protocol::CollectedEvent>(&event)) {
    if (collected_) return std::string("a second `collected`");
    if (collected->protocol != protocol::kProtocolVersion) {
      return "`collected` in protocol version " + std::to_string(collected->protocol) +
             ", but this bulkhead speaks version " + std::to_string(protocol::kProtocolVersion) +
             " (a bulkhead_worker.py from another bulkhead?)";
    }
    collected_ = true;
    return std::nullopt;
  }
  if (const auto* start = std::get_if<protocol::StartEvent>(&event)) {
    if (auto refused = check_start(start->index, collection)) return refused;
    queue_.pop_front();
    running_ = start->index;
    reports_ = 0;
    return std::nullopt;
  }
  if (const auto* timeout = std::get_if<protocol::TimeoutEvent>(&event)) {
    return check_running("timeout", timeout->index, collection);
  }
  if (const auto* report = std::get_if<protocol::ReportEvent>(&event)) {
    if (!report->index) return std::nullopt;  // outside any test: the supervisor ignores it
    if (auto refused = check_running("report", *report->index, collection)) return refused;
    if (++reports_ > kMaxReportsPerTest) {
      return "more than " + std::to_string(kMaxReportsPerTest) + " `report`s for " +
             test_name(*report->index, collection);
    }
    return std::nullopt;
  }
  if (const auto* finished = std::get_if<protocol::FinishedEvent>(&event)) {
    if (auto refused = check_running("finished", finished->index, collection)) return refused;
    if (ended_.size() < collection.size()) ended_.resize(collection.size(), false);
    ended_[finished->index] = true;
    running_.reset();
    return std::nullopt;
  }
  if (const auto* released = std::get_if<protocol::ReleasedEvent>(&event)) {
    return check_released(released->indices, collection);
  }
  if (std::holds_alternative<protocol::DoneEvent>(event)) {
    if (!collected_) return std::string("`done` before this worker's `collected`");
    if (done_) return std::string("a second `done`");
    if (running_) return "`done` while " + test_name(*running_, collection) + " is running";
    done_ = true;
    return std::nullopt;
  }
  return std::nullopt;  // warning, internal_error: allowed at any time
}

}  // namespace bulkhead

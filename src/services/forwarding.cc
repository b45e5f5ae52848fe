// Putting forwards together and serving them (see forwarding.h).
#include "src/services/forwarding.h"

#include <sys/resource.h>

#include "sandbox/error.h"
#include "src/services/auto_forward.h"

namespace bulkhead::services {
namespace {

// Each relayed connection holds six descriptors (two sockets, two pipes): lift the soft
// RLIMIT_NOFILE towards the hard one so a few hundred connections fit. Returns the old limit.
std::optional<rlimit> raise_nofile() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  const rlim_t wanted =
      limit.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(limit.rlim_max, 65536);
  if (limit.rlim_cur >= wanted) return std::nullopt;
  const rlimit old = limit;
  limit.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  return old;
}

}  // namespace

Forwarding::Forwarding(const std::vector<ForwardRequest>& requests,
                       const std::vector<std::vector<std::string>>& envs) {
  bool want_auto = false;
  for (const ForwardRequest& request : requests) {
    if (request.spec == "auto") {
      want_auto = true;
      continue;
    }
    try {
      add_forward(forwards_, parse_forward(request.spec, request.origin));
    } catch (const UserError& error) {
      throw UserError(request.origin + ": " + error.what());
    }
  }
  if (want_auto) {
    AutoForwards detected = detect_forwards(envs);
    for (Forward& forward : detected.forwards) {
      add_forward(forwards_, std::move(forward), /*yield_on_conflict=*/true);
    }
    notes_ = std::move(detected.notes);
    if (detected.forwards.empty() && notes_.empty()) {
      notes_.push_back(
          "--forward auto found no service in the environment (DATABASE_URL, *_URL, PGHOST, "
          "MYSQL_HOST, REDIS_HOST...)");
    }
  }
  plan_ = plan_listeners(forwards_);
  for (const Forward& forward : forwards_) targets_.push_back(resolve_target(forward.target));
}

Forwarding::~Forwarding() { stop(); }

std::vector<std::string> Forwarding::describe() const {
  std::vector<std::string> lines;
  for (const Forward& forward : forwards_) {
    lines.push_back("forward: " + forward.text() + " (" + forward.origin + ")");
  }
  for (const std::string& note : notes_) lines.push_back("forward: " + note);
  return lines;
}

void Forwarding::start() {
  if (forwards_.empty() || relay_) return;
  saved_nofile_ = raise_nofile();
  relay_ = std::make_unique<Relay>(targets_);
}

void Forwarding::attach(int owner, std::vector<UniqueFd> listeners) {
  if (!relay_) return;
  std::vector<std::pair<UniqueFd, std::size_t>> served;
  for (std::size_t i = 0; i < listeners.size() && i < plan_.forward_of.size(); ++i) {
    if (listeners[i]) served.emplace_back(std::move(listeners[i]), plan_.forward_of[i]);
  }
  relay_->attach(owner, std::move(served));
}

void Forwarding::detach(int owner) {
  if (relay_) relay_->detach(owner);
}

void Forwarding::stop() {
  relay_.reset();
  // The teardown commands (and anything after) get the limit bulkhead was started with.
  if (saved_nofile_) ::setrlimit(RLIMIT_NOFILE, &*saved_nofile_);
  saved_nofile_.reset();
}

}  // namespace bulkhead::services

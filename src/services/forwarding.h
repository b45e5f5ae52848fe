// A run's forwards put together: the declared specs (command line, pyproject, profile) and
// `auto`, the listeners each sandbox gets, the header lines saying what is forwarded, and the
// relay that serves them. Used by `bulkhead run` (through Services) and `bulkhead exec`.
#pragma once

#include <sys/resource.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/fd.h"
#include "sandbox/sandbox.h"
#include "src/services/forward.h"
#include "src/services/relay.h"

namespace bulkhead::services {

struct ForwardRequest {
  std::string spec;    // "5432", "auto", "unix:/run/a.sock=unix:/srv/a.sock", ...
  std::string origin;  // "--forward", "pyproject forward", "profile network.forward"
};

class Forwarding {
 public:
  // Parses every request; `auto` reads `envs` (each worker's environment). Declared forwards
  // win over detected ones. Resolves targets. Throws UserError naming the spec and origin.
  Forwarding(const std::vector<ForwardRequest>& requests,
             const std::vector<std::vector<std::string>>& envs);
  ~Forwarding();

  bool empty() const { return forwards_.empty(); }
  const std::vector<Forward>& forwards() const { return forwards_; }
  const std::vector<std::string>& notes() const { return notes_; }  // from auto-detection
  // What each sandbox must listen on (SpawnSpec::listeners).
  const std::vector<sandbox::ListenerSpec>& listeners() const { return plan_.specs; }
  // "forward: 127.0.0.1:5432, [::1]:5432 -> localhost:5432 (auto: DATABASE_URL)", one each.
  std::vector<std::string> describe() const;

  void start();  // the relay thread; before the first attach
  // A sandbox's listeners (Child::take_listeners, parallel to listeners()) are served from now.
  void attach(int owner, std::vector<UniqueFd> listeners);
  void detach(int owner);  // its sandbox ended: close its listeners and connections
  void stop();             // stops the relay (also done by the destructor)
  const RelayCounters* counters() const { return relay_ ? &relay_->counters() : nullptr; }

 private:
  std::vector<Forward> forwards_;
  std::vector<std::string> notes_;
  ListenerPlan plan_;
  std::vector<ResolvedTarget> targets_;
  std::unique_ptr<Relay> relay_;
  std::optional<rlimit> saved_nofile_;  // restored by stop()
};

}  // namespace bulkhead::services

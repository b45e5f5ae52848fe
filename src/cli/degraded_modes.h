// Which of the known degraded environments this machine is, for `bulkhead doctor`:
// (a) unprivileged user namespaces off, (b) namespace creation refused by a seccomp filter on
// bulkhead itself (Docker's default profile), (c) no writable cgroup.
#pragma once

#include <optional>
#include <string>

#include "sandbox/sandbox.h"

namespace bulkhead {

struct DegradedModes {
  std::optional<std::string> userns_off;       // (a): why, when so
  std::optional<std::string> seccomp_blocked;  // (b)
  std::optional<std::string> no_cgroup;        // (c)
};

// Probes (a) and (b); (c) is read from the isolation a real sandbox got (nullptr: unknown).
DegradedModes detect_degraded_modes(const sandbox::Isolation* isolation);

}  // namespace bulkhead

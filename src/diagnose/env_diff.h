// The environment a replay runs with (the current one) against the one a run record holds for
// the test's worker: which variables differ, so `bulkhead repro` can name them. Values of
// secret-looking names are compared by their recorded hash. Pure logic.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace bulkhead {

struct EnvDifference {
  enum class Kind { Changed, Unset, New };  // value differs; set then, not now; set now only
  std::string name;
  Kind kind = Kind::Changed;
};

// `recorded`: the worker's env as recorded (secret-looking values as "sha256:<16 hex>");
// `now`: the current environment; `ignored`: names bulkhead sets or drops for the workers (the
// profile's env templates and env_unset). BULKHEAD_* and PYTEST_XDIST_* are bulkhead's own, and
// PWD, OLDPWD, SHLVL and _ the shell's bookkeeping: never compared. PYTHONPATH is compared
// without the plugin directory bulkhead puts first.
// Sorted by name.
std::vector<EnvDifference> env_differences(const std::map<std::string, std::string>& recorded,
                                           const std::map<std::string, std::string>& now,
                                           const std::set<std::string>& ignored);

// "FOO (changed), BAR (unset now), BAZ (new)".
std::string describe_env_differences(const std::vector<EnvDifference>& differences);

}  // namespace bulkhead

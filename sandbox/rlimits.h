// Resource limits set with setrlimit in the payload: NOFILE, CORE=0, and any others the
// profile names; also the fallbacks for memory (AS) when no memory cgroup is available.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sandbox/profile.h"

namespace bulkhead::sandbox {

struct RlimitSetting {
  int resource;
  rlim_t value;
  std::string name;
};

// Resolves the profile's limits into setrlimit calls (supervisor side). `no_memory_cgroup`
// adds RLIMIT_AS for the memory limit. Throws UserError on an unknown rlimit name.
std::vector<RlimitSetting> plan_rlimits(const Limits& limits, bool no_memory_cgroup);

// Applies them (payload side). Throws SysError naming the limit.
void apply_rlimits(const std::vector<RlimitSetting>& settings);

}  // namespace bulkhead::sandbox

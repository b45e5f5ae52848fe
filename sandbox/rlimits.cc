// rlimit planning (names to resources) and application.
#include "sandbox/rlimits.h"

#include "sandbox/error.h"

namespace bulkhead::sandbox {
namespace {

const std::map<std::string, int>& rlimit_names() {
  static const std::map<std::string, int> names = {
      {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},
      {"cpu", RLIMIT_CPU},         {"data", RLIMIT_DATA},
      {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},
      {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE},
      {"nice", RLIMIT_NICE},       {"nofile", RLIMIT_NOFILE},
      {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},
      {"rtprio", RLIMIT_RTPRIO},   {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK},
  };
  return names;
}

}  // namespace

std::vector<RlimitSetting> plan_rlimits(const Limits& limits, bool no_memory_cgroup) {
  std::vector<RlimitSetting> out;
  std::map<std::string, uint64_t> wanted = {{"core", 0}};
  for (const auto& [name, value] : limits.rlimits) wanted[name] = value;
  if (limits.nofile) wanted["nofile"] = *limits.nofile;
  if (no_memory_cgroup && limits.memory_bytes && !wanted.count("as")) {
    wanted["as"] = *limits.memory_bytes;
  }
  for (const auto& [name, value] : wanted) {
    auto it = rlimit_names().find(name);
    if (it == rlimit_names().end()) throw UserError("unknown rlimit '" + name + "'");
    out.push_back({it->second, static_cast<rlim_t>(value), name});
  }
  return out;
}

void apply_rlimits(const std::vector<RlimitSetting>& settings) {
  for (const auto& setting : settings) {
    struct rlimit current;
    if (::getrlimit(setting.resource, &current) != 0)
      throw_errno("getrlimit(" + setting.name + ")");
    // Never raise a hard limit (that needs privilege); clamp to it.
    rlim_t value = setting.value;
    if (current.rlim_max != RLIM_INFINITY && value > current.rlim_max) value = current.rlim_max;
    struct rlimit limit = {value, value};
    if (::setrlimit(setting.resource, &limit) != 0) {
      throw_errno("setrlimit(" + setting.name + ", " + std::to_string(value) + ")");
    }
  }
}

}  // namespace bulkhead::sandbox

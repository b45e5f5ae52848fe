// Environment differences between a record and now; see env_diff.h.
#include "src/diagnose/env_diff.h"

#include "src/record/run_record.h"

namespace bulkhead {
namespace {

// bulkhead's own variables, and the shell's bookkeeping of where and how deep it is.
bool not_compared(const std::string& name) {
  return name.rfind("BULKHEAD_", 0) == 0 || name.rfind("PYTEST_XDIST_", 0) == 0 || name == "PWD" ||
         name == "OLDPWD" || name == "SHLVL" || name == "_";
}

// The user's part of a worker's PYTHONPATH: what follows the plugin directory.
std::string user_pythonpath(const std::string& recorded) {
  const auto colon = recorded.find(':');
  return colon == std::string::npos ? "" : recorded.substr(colon + 1);
}

}  // namespace

std::vector<EnvDifference> env_differences(const std::map<std::string, std::string>& recorded,
                                           const std::map<std::string, std::string>& now,
                                           const std::set<std::string>& ignored) {
  std::map<std::string, EnvDifference::Kind> found;
  for (const auto& [name, value] : recorded) {
    if (not_compared(name) || ignored.count(name)) continue;
    const auto current = now.find(name);
    if (name == "PYTHONPATH") {
      const std::string then = user_pythonpath(value);
      const std::string today = current == now.end() ? "" : current->second;
      if (then != today) found[name] = EnvDifference::Kind::Changed;
      continue;
    }
    if (current == now.end()) {
      found[name] = EnvDifference::Kind::Unset;
    } else if (record::recorded_value(name, current->second) != value) {
      found[name] = EnvDifference::Kind::Changed;
    }
  }
  for (const auto& [name, value] : now) {
    if (not_compared(name) || ignored.count(name) || recorded.count(name)) continue;
    if (name == "PYTHONPATH" && value.empty()) continue;
    found[name] = EnvDifference::Kind::New;
  }
  std::vector<EnvDifference> differences;
  for (const auto& [name, kind] : found) differences.push_back({name, kind});
  return differences;
}

std::string describe_env_differences(const std::vector<EnvDifference>& differences) {
  std::string text;
  for (const EnvDifference& difference : differences) {
    const char* what = difference.kind == EnvDifference::Kind::Changed ? "changed"
                       : difference.kind == EnvDifference::Kind::Unset ? "unset now"
                                                                       : "new";
    text += (text.empty() ? "" : ", ") + difference.name + " (" + what + ")";
  }
  return text;
}

}  // namespace bulkhead

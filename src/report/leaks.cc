// Reading a test's leaks back from its report phases (see leaks.h).
#include "src/report/leaks.h"

namespace bulkhead {

std::vector<std::string> leaks_of(const TestRecord& test) {
  std::vector<std::string> out;
  for (const PhaseReport& phase : test.phases) {
    if (phase.when != "teardown" || !phase.raw.is_object()) continue;
    auto properties = phase.raw.find("user_properties");
    if (properties == phase.raw.end() || !properties->is_array()) continue;
    for (const nlohmann::json& entry : *properties) {
      if (entry.is_array() && entry.size() == 2 && entry[0] == kLeakedProperty &&
          entry[1].is_string()) {
        out.push_back(entry[1].get<std::string>());
      }
    }
  }
  return out;
}

std::string leaks_joined(const std::vector<std::string>& leaks) {
  std::string out;
  for (const std::string& leak : leaks) out += (out.empty() ? "" : "; ") + leak;
  return out;
}

}  // namespace bulkhead

// Comparing two workers' collections (see collection_check.h).
#include "src/run/collection_check.h"

#include <unordered_set>

namespace bulkhead {

std::string collection_difference(const std::vector<protocol::CollectedItem>& reference,
                                  const std::string& reference_worker,
                                  const std::vector<protocol::CollectedItem>& other,
                                  const std::string& other_worker) {
  bool same = reference.size() == other.size();
  for (std::size_t i = 0; same && i < reference.size(); ++i) {
    same = reference[i].nodeid == other[i].nodeid;
  }
  if (same) return "";
  std::unordered_set<std::string> theirs, ours;
  for (const auto& item : other) theirs.insert(item.nodeid);
  for (const auto& item : reference) ours.insert(item.nodeid);
  constexpr int kShown = 10;
  std::string diff;
  int shown = 0;
  for (const auto& item : reference) {
    if (!theirs.count(item.nodeid) && shown++ < kShown) diff += "\n  - " + item.nodeid;
  }
  for (const auto& item : other) {
    if (!ours.count(item.nodeid) && shown++ < kShown) diff += "\n  + " + item.nodeid;
  }
  if (diff.empty()) diff = "\n  (same tests, different order)";
  return "Different tests were collected between " + reference_worker + " and " + other_worker +
         " (" + std::to_string(reference.size()) + " vs " + std::to_string(other.size()) +
         " items). The difference is:" + diff;
}

}  // namespace bulkhead

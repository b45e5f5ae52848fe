// Unit keys per --dist mode and grouping of a collection into units (see units.h).
#include "src/run/units.h"

#include <unordered_map>

namespace bulkhead {

namespace {

// The parametrization suffix starts at the first '[' after the first "::" (a '[' in the file
// path is not one). Returns the node id without it.
std::string_view strip_params(std::string_view nodeid) {
  const std::size_t sep = nodeid.find("::");
  if (sep == std::string_view::npos) return nodeid;
  const std::size_t bracket = nodeid.find('[', sep);
  return bracket == std::string_view::npos ? nodeid : nodeid.substr(0, bracket);
}

// loadfile: the file, i.e. everything before the first "::".
std::string_view file_key(std::string_view nodeid) { return nodeid.substr(0, nodeid.find("::")); }

// loadscope: xdist's rule, everything before the last "::" (module for functions, class for
// methods); "::" inside a parametrization does not count.
std::string_view scope_key(std::string_view nodeid) {
  const std::string_view base = strip_params(nodeid);
  const std::size_t sep = base.rfind("::");
  return sep == std::string_view::npos ? base : base.substr(0, sep);
}

}  // namespace

std::optional<DistMode> parse_dist_mode(const std::string& text) {
  if (text == "load") return DistMode::Load;
  if (text == "loadfile") return DistMode::LoadFile;
  if (text == "loadscope") return DistMode::LoadScope;
  if (text == "loadgroup") return DistMode::LoadGroup;
  return std::nullopt;
}

const char* dist_mode_name(DistMode mode) {
  switch (mode) {
    case DistMode::Load:
      return "load";
    case DistMode::LoadFile:
      return "loadfile";
    case DistMode::LoadScope:
      return "loadscope";
    case DistMode::LoadGroup:
      return "loadgroup";
  }
  return "load";
}

std::string_view unit_key(DistMode mode, const ScheduledItem& item) {
  switch (mode) {
    case DistMode::Load:
      return {};
    case DistMode::LoadFile:
      return file_key(item.nodeid);
    case DistMode::LoadScope:
      return scope_key(item.nodeid);
    case DistMode::LoadGroup:
      return item.group;
  }
  return {};
}

std::vector<std::vector<std::size_t>> group_units(DistMode mode,
                                                  const std::vector<ScheduledItem>& items,
                                                  const std::vector<bool>& selected) {
  std::vector<std::vector<std::size_t>> units;
  std::unordered_map<std::string_view, std::size_t> unit_by_key;
  unit_by_key.reserve(mode == DistMode::Load ? 0 : items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!selected.empty() && !selected[i]) continue;
    const std::string_view key = unit_key(mode, items[i]);
    if (key.empty()) {
      units.push_back({i});
      continue;
    }
    auto [it, inserted] = unit_by_key.try_emplace(key, units.size());
    if (inserted) {
      units.push_back({i});
    } else {
      units[it->second].push_back(i);
    }
  }
  return units;
}

}  // namespace bulkhead

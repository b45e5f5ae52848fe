// Scheduling units by --dist mode: the tests that must run in one worker, one after another (a
// file, a scope, an xdist_group; in `load` mode each test alone). The scheduler hands out whole
// units and shards never split one. Pure logic.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead {

enum class DistMode { Load, LoadFile, LoadScope, LoadGroup };
std::optional<DistMode> parse_dist_mode(const std::string& text);  // "load", "loadfile", ...
const char* dist_mode_name(DistMode mode);

struct ScheduledItem {
  std::string nodeid;
  std::string group;  // xdist_group marker name, "" when none (used by LoadGroup)
};

// The key tests of one unit share: the file (loadfile), what comes before the last "::" outside
// the parametrization (loadscope, xdist's rule), the xdist_group name (loadgroup). "" means the
// test is a unit of its own (load mode, or no group in loadgroup).
std::string_view unit_key(DistMode mode, const ScheduledItem& item);

// Groups items into units in order of each unit's first test; within a unit, collection order.
// Only indices with `selected[i]` are grouped (an empty `selected` means all).
std::vector<std::vector<std::size_t>> group_units(DistMode mode,
                                                  const std::vector<ScheduledItem>& items,
                                                  const std::vector<bool>& selected = {});

}  // namespace bulkhead

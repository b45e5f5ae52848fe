// Bridges (owns sandbox/bridges.h): which directories on the way to the payload's paths its
// identity may not search.
#include "sandbox/bridges.h"

#include <sys/stat.h>

#include <algorithm>

namespace bulkhead::sandbox {
namespace {

bool can_search(const struct stat& st, const Searcher& who) {
  if (who.capable) return true;
  if (st.st_uid == who.uid) return (st.st_mode & S_IXUSR) != 0;
  if (std::find(who.gids.begin(), who.gids.end(), st.st_gid) != who.gids.end()) {
    return (st.st_mode & S_IXGRP) != 0;
  }
  return (st.st_mode & S_IXOTH) != 0;
}

}  // namespace

bool is_within(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

std::vector<std::string> plan_bridges(const std::vector<std::string>& needed,
                                      const std::vector<std::string>& covered,
                                      const Searcher& who) {
  std::vector<std::string> bridges;
  for (const auto& path : needed) {
    if (path.empty() || path[0] != '/') continue;
    // Each ancestor from the top, the path itself included (it must be entered too).
    for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
      const std::string dir = end == std::string::npos ? path : path.substr(0, end);
      bool handled = std::any_of(covered.begin(), covered.end(),
                                 [&](const std::string& c) { return is_within(dir, c); }) ||
                     std::any_of(bridges.begin(), bridges.end(),
                                 [&](const std::string& b) { return is_within(dir, b); });
      if (handled) break;
      struct stat st;
      if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) break;
      if (!can_search(st, who)) {
        if (dir != path) bridges.push_back(dir);
        break;
      }
      if (end == std::string::npos) break;
    }
  }
  return bridges;
}

}  // namespace bulkhead::sandbox

// Bridges: a directory on the way to a path the payload needs (project, HOME, interpreter,
// worker plugin, the command) that the payload's identity may not search (a 0700 home of
// another user, /root for a root payload in a user namespace) is replaced by a private tmpfs
// holding only the way through; the needed paths are mounted back on top. What else that
// directory held is not visible in the sandbox (it was not readable to the payload anyway).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bulkhead::sandbox {

// Whom directory search permission is checked for: host uid and gids.
struct Searcher {
  uid_t uid = 0;
  std::vector<gid_t> gids;
  bool capable = false;  // CAP_DAC_READ_SEARCH over host files: every directory is searchable
};

// The outermost unsearchable ancestor of each needed path, each once, in order. Ancestors at
// or under a `covered` path (a tmpfs or an overlay the sandbox mounts there) are not checked.
std::vector<std::string> plan_bridges(const std::vector<std::string>& needed,
                                      const std::vector<std::string>& covered, const Searcher& who);

// True when `path` is `dir` or inside it.
bool is_within(const std::string& path, const std::string& dir);

}  // namespace bulkhead::sandbox

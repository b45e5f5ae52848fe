// Which run groups (bulkhead-<pid>-<run id>) left behind by dead runs are ours to remove
// (cgroup.h, RunCgroup::remove_stale). A v1 hierarchy can be shared: every container without a
// cgroup namespace of its own whose cgroup there is "/" sees the hierarchy's root as its own
// cgroup, so a group at that root may be another container's (and its pid another pid
// namespace's). Only groups under a cgroup of our own below the root are ours for certain.
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string_view>

#include "sandbox/cgroup.h"
#include "sandbox/file_util.h"

namespace bulkhead::sandbox {

std::optional<pid_t> run_group_owner(const std::string& name) {
  constexpr std::string_view kPrefix = "bulkhead-";
  if (name.rfind(kPrefix, 0) != 0) return std::nullopt;
  const std::size_t digits = name.find_first_not_of("0123456789", kPrefix.size());
  if (digits == kPrefix.size() || digits == std::string::npos || name[digits] != '-' ||
      digits + 1 == name.size() || digits - kPrefix.size() > 9) {
    return std::nullopt;
  }
  const long pid = std::strtol(name.c_str() + kPrefix.size(), nullptr, 10);
  if (pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

bool is_hierarchy_root(const std::string& dir, CgroupVersion version) {
  struct stat info {};
  // v1: release_agent exists only in a hierarchy's root; v2: cgroup.type in every cgroup but
  // the root. A cgroup namespace's root is neither.
  if (version == CgroupVersion::V1) return ::stat((dir + "/release_agent").c_str(), &info) == 0;
  return ::stat((dir + "/cgroup.type").c_str(), &info) != 0 && errno == ENOENT;
}

bool run_supervisor_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  const std::string comm = try_read_file("/proc/" + std::to_string(pid) + "/comm").value_or("");
  return comm.rfind("bulkhead", 0) == 0;
}

std::vector<std::string> stale_run_groups(const std::vector<StaleScan>& scans,
                                          const std::function<bool(pid_t)>& supervisor_alive) {
  auto dead = [&](const std::string& name) {
    const std::optional<pid_t> owner = run_group_owner(name);
    return owner && !supervisor_alive(*owner);
  };
  // Names proven ours: dead run groups under a cgroup of our own below a hierarchy's root.
  std::set<std::string> ours;
  for (const StaleScan& scan : scans) {
    if (scan.shared_root) continue;
    for (const std::string& name : scan.entries) {
      if (dead(name)) ours.insert(name);
    }
  }
  std::vector<std::string> out;
  for (const StaleScan& scan : scans) {
    for (const std::string& name : scan.entries) {
      // At a shared root, only the groups of a run proven ours (a run makes its group in
      // every hierarchy it uses, under one name).
      if (ours.count(name)) out.push_back(scan.own_dir + "/" + name);
    }
  }
  return out;
}

}  // namespace bulkhead::sandbox

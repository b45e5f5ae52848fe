// cgroup v2 specifics: making our own cgroup able to hand controllers to the run's groups
// (the no-internal-processes rule, delegation, cgroup namespaces), and killing a group on
// kernels with and without cgroup.kill.
#pragma once

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace bulkhead::sandbox {

// Controllers enabled in our own cgroup's cgroup.subtree_control for the run's groups. The
// kernel refuses that while our cgroup holds processes (unless it is the root), so we first
// move ourselves into a leaf `<own>/<leaf_name>`. Destruction disables what we enabled,
// moves us back and removes the leaf.
class V2Delegation {
 public:
  // nullptr, with one sentence in `missing` saying why and what to do, when the controllers
  // cannot be had.
  static std::unique_ptr<V2Delegation> enable(const std::string& own_dir,
                                              const std::set<std::string>& wanted,
                                              const std::string& leaf_name,
                                              std::vector<std::string>& missing);
  ~V2Delegation();
  V2Delegation(const V2Delegation&) = delete;
  V2Delegation& operator=(const V2Delegation&) = delete;

 private:
  V2Delegation() = default;
  std::string own_dir_;
  std::string self_leaf_;  // empty: we stayed where we were
  std::string enabled_;    // "+memory +pids " we added; removed again at the end
};

// The pids listed in `dir`/cgroup.procs (v1 or v2); empty when unreadable.
std::vector<pid_t> cgroup_pids(const std::string& dir);

// Kills every process in the v2 group `dir` and its descendants: one write to cgroup.kill
// (Linux 5.14+), else freeze_and_kill.
void kill_v2_group(const std::string& dir);
// Before cgroup.kill: freeze the group (cgroup.freeze, Linux 5.2+) so nothing in it can fork,
// SIGKILL every listed process in it and its descendants, thaw. Returns false when processes
// remained after a bounded wait.
bool freeze_and_kill(const std::string& dir);

}  // namespace bulkhead::sandbox

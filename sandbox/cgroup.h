// cgroups: where each controller lives (v1, v2 or hybrid), one interface per controller with a
// v1 and a v2 implementation, the run's parent group under our OWN cgroup, and per-sandbox
// leaves that enforce memory / cpu / pids and report OOM kills and pids-limit hits.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/cgroup_v2.h"
#include "sandbox/fd.h"
#include "sandbox/profile.h"

namespace bulkhead::sandbox {

enum class CgroupVersion { V1, V2 };

// One controller's hierarchy as seen by this process.
struct ControllerHome {
  CgroupVersion version = CgroupVersion::V1;
  std::string mount_point;  // "/sys/fs/cgroup/memory" or "/sys/fs/cgroup"
  std::string own_dir;      // our own cgroup's directory in that hierarchy
};

struct CgroupLayout {
  std::optional<ControllerHome> memory, cpu, pids;
  // CPU time: v1's cpuacct hierarchy, or the v2 mount (every v2 group has cpu.stat).
  std::optional<ControllerHome> cpuacct;
  std::optional<ControllerHome> unified;  // the v2 mount, with or without controllers
  std::string mode() const;               // "v1", "v2", "hybrid" or "none"
};

// Finds our own cgroup directory when the cgroupfs mount's root lies `levels` directories
// above our cgroup namespace's root (mountinfo root "/../.."): (mount point, levels, our
// path relative to the namespace) -> directory, or "" when not found.
using CgroupDirFinder = std::function<std::string(const std::string&, int, const std::string&)>;

// Reads /proc/self/mountinfo and /proc/self/cgroup. Decides per controller (as Bazel does):
// a v1 mount carrying it wins, else the v2 mount if our cgroup lists it in cgroup.controllers.
CgroupLayout detect_cgroup_layout();
// The same from given texts; `controllers_of(dir)` returns a v2 cgroup.controllers file.
// Without `find_own_dir`, a mount whose root lies above our namespace is not used.
CgroupLayout parse_cgroup_layout(
    const std::string& mountinfo, const std::string& proc_cgroup,
    const std::function<std::string(const std::string&)>& controllers_of,
    const CgroupDirFinder& find_own_dir = nullptr);
// The finder detect_cgroup_layout uses: the directory `levels` below `mount_point` (plus
// `cgroup_path`) whose cgroup.procs lists `pid`.
std::string find_own_cgroup_dir(const std::string& mount_point, int levels,
                                const std::string& cgroup_path, pid_t pid);

// Stale run groups (cgroup_stale.cc). The supervisor pid in a run group's name
// (bulkhead-<pid>-<run id>), or nothing when the name is not one.
std::optional<pid_t> run_group_owner(const std::string& name);
// Whether `dir` is its hierarchy's true root, which every container without a cgroup namespace
// of its own shares (a cgroup namespace's root is not one).
bool is_hierarchy_root(const std::string& dir, CgroupVersion version);
// Whether `pid` is a running bulkhead (alive and named so).
bool run_supervisor_alive(pid_t pid);
// One hierarchy as RunCgroup::remove_stale sees it.
struct StaleScan {
  std::string own_dir;               // our own cgroup's directory in it
  bool shared_root = false;          // own_dir is the hierarchy's true root (is_hierarchy_root)
  std::vector<std::string> entries;  // the names of the directories in own_dir
};
// The run groups to remove: those of dead supervisors under our own cgroup where that is not a
// shared root; at a shared root, only groups by the same names (the same runs: a run makes one
// name in every hierarchy), since anything else there may be another container's.
std::vector<std::string> stale_run_groups(const std::vector<StaleScan>& scans,
                                          const std::function<bool(pid_t)>& supervisor_alive);

// A file to write in a group, e.g. {"memory.max", "536870912"}.
struct CgroupSetting {
  std::string file;
  std::string value;
};

// Per-controller interfaces; each has a v1 and a v2 implementation. They name the files and
// values; the group (LeafCgroup) applies them: through libcgroup on v1, directly on v2.
class MemoryController {
 public:
  virtual ~MemoryController() = default;
  virtual std::vector<CgroupSetting> limit(uint64_t bytes) const = 0;
  virtual uint64_t oom_kills(const std::string& dir) const = 0;
  virtual uint64_t peak_bytes(const std::string& dir) const = 0;  // 0: unknown
  // The peak's file: v1 memory.max_usage_in_bytes (a write resets it), v2 memory.peak (a write
  // resets it for that open file only, Linux 6.12+; read-only before).
  virtual const char* peak_file() const = 0;
};
class CpuController {
 public:
  virtual ~CpuController() = default;
  virtual std::vector<CgroupSetting> quota(double cpus) const = 0;
};
class PidsController {
 public:
  virtual ~PidsController() = default;
  virtual std::vector<CgroupSetting> max(uint64_t pids) const = 0;
  virtual uint64_t limit_hits(const std::string& dir) const = 0;  // forks refused at pids.max
};
std::unique_ptr<MemoryController> make_memory_controller(CgroupVersion version);
std::unique_ptr<CpuController> make_cpu_controller(CgroupVersion version);
std::unique_ptr<PidsController> make_pids_controller(CgroupVersion version);

// What the leaf counted by the time the sandbox ended.
struct CgroupCounters {
  uint64_t oom_kills = 0;
  uint64_t memory_peak_bytes = 0;
  uint64_t pids_limit_hits = 0;
};

// Files of a leaf its payload may read itself, to measure its own work between two points (a
// test's start and end): the memory peak (opened read-write where a write resets it) and the
// CPU time (v1 cpuacct.usage in ns, v2 cpu.stat). Invalid where the run has no such group.
struct CounterFds {
  UniqueFd memory_peak;
  UniqueFd cpu_usage;
};

class RunCgroup;

// One sandbox's group (e.g. bulkhead-<run>/gw0) in every hierarchy the run uses.
// Destruction kills what is left in it and removes it.
class LeafCgroup {
 public:
  ~LeafCgroup();
  LeafCgroup(const LeafCgroup&) = delete;
  LeafCgroup& operator=(const LeafCgroup&) = delete;

  // v2: an fd of the leaf for clone3(CLONE_INTO_CGROUP); -1 when the run has no v2 leaf or
  // v1 groups also need an explicit attach.
  int clone_into_fd() const;
  // Moves `pid` into every group that clone_into_fd() did not already cover
  // (`placed_by_clone`: false when clone3 was unavailable and the v2 leaf needs a move too).
  void attach(pid_t pid, bool placed_by_clone) const;
  void kill_all() const;  // cgroup.kill on v2; SIGKILL to each listed pid on v1
  CgroupCounters counters() const;
  CounterFds open_counters() const;  // fresh descriptors, close-on-exec

 private:
  friend class RunCgroup;
  LeafCgroup() = default;
  struct Dir {
    std::string path;
    CgroupVersion version;
  };
  std::vector<Dir> dirs_;  // one per hierarchy used
  UniqueFd v2_fd_;
  bool all_v2_ = false;
  std::optional<std::string> memory_dir_, pids_dir_;
  std::optional<std::string> cpu_usage_file_;  // cpuacct.usage (v1) or cpu.stat (v2)
  const MemoryController* memory_ = nullptr;
  const PidsController* pids_ = nullptr;
};

// The run's parent group, <own cgroup>/bulkhead-<pid>-<run_id>, in each hierarchy we can use.
// Never at the root of a hierarchy we do not own, never moving a process out of our cgroup.
class RunCgroup {
 public:
  // Creates the run group for the limits asked for. Whatever cannot be had is appended to
  // `missing` as a sentence; returns nullptr when no controller is usable at all.
  static std::unique_ptr<RunCgroup> create(const CgroupLayout& layout, const std::string& run_id,
                                           const Limits& limits, std::vector<std::string>& missing);
  ~RunCgroup();
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;

  std::unique_ptr<LeafCgroup> create_leaf(const std::string& name, const Limits& limits) const;
  bool has_memory() const { return memory_home_.has_value(); }
  bool has_cpu() const { return cpu_home_.has_value(); }
  bool has_pids() const { return pids_home_.has_value(); }

  // Removes the groups of runs whose supervisor is gone, as stale_run_groups() decides: never a
  // group outside our own cgroup, nor one at a shared hierarchy root not proven ours.
  static void remove_stale(const CgroupLayout& layout);

 private:
  RunCgroup() = default;
  void adopt_cpuacct(const CgroupLayout& layout, bool v2_ok);
  std::string run_name_;
  std::optional<ControllerHome> memory_home_, cpu_home_, pids_home_;
  std::optional<ControllerHome> cpuacct_home_;  // CPU time per leaf, never a limit
  std::vector<std::string> run_dirs_;           // created, removed in reverse on destruction
  std::unique_ptr<MemoryController> memory_;
  std::unique_ptr<CpuController> cpu_;
  std::unique_ptr<PidsController> pids_;
  // v2 only: controllers enabled for us in our own cgroup (we may sit in a leaf of it).
  std::unique_ptr<V2Delegation> v2_delegation_;
};

}  // namespace bulkhead::sandbox

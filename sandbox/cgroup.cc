// cgroups: v1/v2 controller implementations, run and leaf groups (layout detection lives in
// cgroup_layout.cc, v2 delegation and group kill in cgroup_v2.cc). v1 groups are created, set and
// deleted through libcgroup; libcgroup 2.0.2 has no mode detection, no cgroup.kill and no
// CLONE_INTO_CGROUP, so those (and all of v2, whose no-internal-process and delegation rules it
// does not handle) are done directly here.
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "sandbox/cgroup_v2.h"
#include "sandbox/error.h"
#include "sandbox/file_util.h"

namespace bulkhead::sandbox {
namespace {

// CFS bandwidth: `cpus` cores as a quota per 100 ms period (at least 1 ms).
constexpr long kCpuPeriodUs = 100000;
long cpu_quota_us(double cpus) { return std::max(1000L, std::lround(cpus * kCpuPeriodUs)); }

// ---- v1 controllers -------------------------------------------------------------------

class MemoryV1 : public MemoryController {
 public:
  std::vector<CgroupSetting> limit(uint64_t bytes) const override {
    return {{"memory.limit_in_bytes", std::to_string(bytes)}};
  }
  uint64_t oom_kills(const std::string& dir) const override {
    return read_keyed_counter(dir + "/memory.oom_control", "oom_kill");
  }
  uint64_t peak_bytes(const std::string& dir) const override {
    auto text = try_read_file(dir + "/" + peak_file());
    return text ? std::strtoull(text->c_str(), nullptr, 10) : 0;
  }
  const char* peak_file() const override { return "memory.max_usage_in_bytes"; }
};

class CpuV1 : public CpuController {
 public:
  std::vector<CgroupSetting> quota(double cpus) const override {
    return {{"cpu.cfs_period_us", std::to_string(kCpuPeriodUs)},
            {"cpu.cfs_quota_us", std::to_string(cpu_quota_us(cpus))}};
  }
};

class PidsV1 : public PidsController {
 public:
  std::vector<CgroupSetting> max(uint64_t pids) const override {
    return {{"pids.max", std::to_string(pids)}};
  }
  uint64_t limit_hits(const std::string& dir) const override {
    return read_keyed_counter(dir + "/pids.events", "max");
  }
};

// ---- v2 controllers -------------------------------------------------------------------

class MemoryV2 : public MemoryController {
 public:
  std::vector<CgroupSetting> limit(uint64_t bytes) const override {
    return {{"memory.max", std::to_string(bytes)}, {"memory.swap.max", "0"}};
  }
  uint64_t oom_kills(const std::string& dir) const override {
    return read_keyed_counter(dir + "/memory.events", "oom_kill");
  }
  uint64_t peak_bytes(const std::string& dir) const override {
    auto text = try_read_file(dir + "/" + peak_file());
    return text ? std::strtoull(text->c_str(), nullptr, 10) : 0;
  }
  const char* peak_file() const override { return "memory.peak"; }  // Linux 5.19+
};

class CpuV2 : public CpuController {
 public:
  std::vector<CgroupSetting> quota(double cpus) const override {
    return {{"cpu.max", std::to_string(cpu_quota_us(cpus)) + " " + std::to_string(kCpuPeriodUs)}};
  }
};

class PidsV2 : public PidsController {
 public:
  std::vector<CgroupSetting> max(uint64_t pids) const override {
    return {{"pids.max", std::to_string(pids)}};
  }
  uint64_t limit_hits(const std::string& dir) const override {
    return read_keyed_counter(dir + "/pids.events", "max");
  }
};

// ---- applying settings ----------------------------------------------------------------

std::string relative_to(const ControllerHome& home, const std::string& dir) {
  std::string rel = dir.substr(home.mount_point.size());
  return rel.empty() ? "/" : rel;
}

// Creates `dir` in a v1 hierarchy with its settings, through libcgroup.
void create_v1_group(const ControllerHome& home, const char* controller, const std::string& dir,
                     const std::vector<CgroupSetting>& settings) {
  struct cgroup* group = cgroup_new_cgroup(relative_to(home, dir).c_str());
  if (group == nullptr) throw UserError("libcgroup: cgroup_new_cgroup(" + dir + ") failed");
  struct cgroup_controller* ctrl = cgroup_add_controller(group, controller);
  int rc = ctrl == nullptr ? ECGFAIL : 0;
  for (const auto& setting : settings) {
    if (rc == 0) rc = cgroup_add_value_string(ctrl, setting.file.c_str(), setting.value.c_str());
  }
  if (rc == 0) rc = cgroup_create_cgroup(group, 0);
  cgroup_free(&group);
  if (rc != 0) {
    // libcgroup reports most refusals as "not allowed"; the parent directory tells why.
    std::string parent = dir.substr(0, dir.rfind('/'));
    struct statvfs fs;
    int err = rc == ECGOTHER ? cgroup_get_last_errno()
              : ::statvfs(parent.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY) ? EROFS
              : ::access(parent.c_str(), W_OK) != 0                            ? errno
                                                                               : EPERM;
    throw SysError("libcgroup: create " + dir + " (" + cgroup_strerror(rc) + ")", err);
  }
}

void create_v2_group(const std::string& dir, const std::vector<CgroupSetting>& settings) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + dir);
  for (const auto& setting : settings) {
    int err = try_write_file(dir + "/" + setting.file, setting.value);
    // memory.swap.max is absent without swap accounting: nothing to limit then;
    // memory.oom.group (4.19+) absent: the OOM killer picks one process instead of all.
    if (err == ENOENT && (setting.file == "memory.swap.max" || setting.file == "memory.oom.group"))
      continue;
    if (err != 0)
      throw SysError("write '" + setting.value + "' to " + dir + "/" + setting.file, err);
  }
}

// rmdir, retrying briefly while killed processes finish exiting.
// The pause starts short: the usual wait is for a killed process's exit to finish (~100 us).
bool remove_group_dir(const std::string& dir) {
  auto pause = std::chrono::microseconds(50);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY || std::chrono::steady_clock::now() > give_up) return false;
    for (pid_t pid : cgroup_pids(dir)) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

// Removes `dir` and every group under it; the first one that stays is named on stderr (a
// destructor's only way to say it), with the errno that kept it.
bool remove_tree(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> children;
    while (dirent* entry = ::readdir(d)) {
      if (entry->d_type == DT_DIR && entry->d_name[0] != '.') children.push_back(entry->d_name);
    }
    ::closedir(d);
    bool ok = true;
    for (const auto& child : children) ok = remove_tree(dir + "/" + child) && ok;
    if (!ok) return false;
  }
  if (remove_group_dir(dir)) return true;
  std::fprintf(stderr, "bulkhead: cannot remove cgroup %s: %s\n", dir.c_str(),
               std::strerror(errno));
  return false;
}

}  // namespace

std::unique_ptr<MemoryController> make_memory_controller(CgroupVersion version) {
  if (version == CgroupVersion::V1) return std::make_unique<MemoryV1>();
  return std::make_unique<MemoryV2>();
}
std::unique_ptr<CpuController> make_cpu_controller(CgroupVersion version) {
  if (version == CgroupVersion::V1) return std::make_unique<CpuV1>();
  return std::make_unique<CpuV2>();
}
std::unique_ptr<PidsController> make_pids_controller(CgroupVersion version) {
  if (version == CgroupVersion::V1) return std::make_unique<PidsV1>();
  return std::make_unique<PidsV2>();
}

// ---- LeafCgroup -----------------------------------------------------------------------

LeafCgroup::~LeafCgroup() {
  kill_all();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) remove_group_dir(it->path);
}

int LeafCgroup::clone_into_fd() const { return v2_fd_.get(); }

void LeafCgroup::attach(pid_t pid, bool placed_by_clone) const {
  for (const auto& dir : dirs_) {
    if (dir.version == CgroupVersion::V2 && v2_fd_ && placed_by_clone) continue;
    write_file(dir.path + "/cgroup.procs", std::to_string(pid));
  }
}

void LeafCgroup::kill_all() const {
  for (const auto& dir : dirs_) {
    if (dir.version == CgroupVersion::V2) {
      kill_v2_group(dir.path);
    } else {
      for (pid_t pid : cgroup_pids(dir.path)) ::kill(pid, SIGKILL);
    }
  }
}

CgroupCounters LeafCgroup::counters() const {
  CgroupCounters counters;
  if (memory_dir_ && memory_) {
    counters.oom_kills = memory_->oom_kills(*memory_dir_);
    counters.memory_peak_bytes = memory_->peak_bytes(*memory_dir_);
  }
  if (pids_dir_ && pids_) counters.pids_limit_hits = pids_->limit_hits(*pids_dir_);
  return counters;
}

CounterFds LeafCgroup::open_counters() const {
  CounterFds fds;
  if (memory_dir_ && memory_) {
    const std::string peak = *memory_dir_ + "/" + memory_->peak_file();
    // Read-write where a write resets the peak; the kernel refuses a writable open otherwise.
    fds.memory_peak = UniqueFd(::open(peak.c_str(), O_RDWR | O_CLOEXEC));
    if (!fds.memory_peak) fds.memory_peak = UniqueFd(::open(peak.c_str(), O_RDONLY | O_CLOEXEC));
  }
  if (cpu_usage_file_) {
    fds.cpu_usage = UniqueFd(::open(cpu_usage_file_->c_str(), O_RDONLY | O_CLOEXEC));
  }
  return fds;
}

// ---- RunCgroup ------------------------------------------------------------------------

std::unique_ptr<RunCgroup> RunCgroup::create(const CgroupLayout& layout, const std::string& run_id,
                                             const Limits& limits,
                                             std::vector<std::string>& missing) {
  std::unique_ptr<RunCgroup> run(new RunCgroup());
  run->run_name_ = "bulkhead-" + std::to_string(::getpid()) + "-" + run_id;
  remove_stale(layout);

  bool uses_v1 = false;
  for (const auto* home : {&layout.memory, &layout.cpu, &layout.pids, &layout.cpuacct}) {
    if (*home && (*home)->version == CgroupVersion::V1) uses_v1 = true;
  }
  if (uses_v1) {
    int rc = cgroup_init();
    if (rc != 0) {
      missing.push_back(std::string("cgroups: libcgroup cgroup_init failed: ") +
                        cgroup_strerror(rc) + "; no memory, cpu or pids limits");
      return nullptr;
    }
  }

  // v2: the controllers must be enabled in our own cgroup's subtree_control, which the kernel
  // refuses while our cgroup holds processes; so we first park ourselves in a leaf of it.
  std::set<std::string> v2_wanted;
  if (layout.memory && layout.memory->version == CgroupVersion::V2) v2_wanted.insert("memory");
  if (layout.cpu && layout.cpu->version == CgroupVersion::V2 && limits.cpus) {
    v2_wanted.insert("cpu");
  }
  if (layout.pids && layout.pids->version == CgroupVersion::V2) v2_wanted.insert("pids");
  bool v2_ok = !v2_wanted.empty();
  if (v2_ok) {
    const std::string own = layout.unified->own_dir;
    run->v2_delegation_ =
        V2Delegation::enable(own, v2_wanted, run->run_name_ + "-supervisor", missing);
    v2_ok = run->v2_delegation_ != nullptr;
    if (v2_ok) {
      std::string dir = own + "/" + run->run_name_;
      std::string subtree;
      for (const auto& c : v2_wanted) subtree += "+" + c + " ";
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        missing.push_back("cgroups v2: mkdir " + dir + ": " + std::strerror(errno));
        v2_ok = false;
      } else {
        run->run_dirs_.push_back(dir);
        int err = try_write_file(dir + "/cgroup.subtree_control", subtree);
        if (err != 0) {
          missing.push_back("cgroups v2: enable " + subtree + "in " + dir + ": " +
                            std::strerror(err));
          v2_ok = false;
        }
      }
    }
  }

  auto adopt = [&](const std::optional<ControllerHome>& home, const char* name,
                   std::optional<ControllerHome>& slot, bool wanted) {
    if (!wanted) return;
    if (!home) {
      missing.push_back(std::string("cgroups: no ") + name +
                        " controller available to us; its limit is not enforced");
      return;
    }
    if (home->version == CgroupVersion::V2) {
      if (v2_ok) slot = home;
      return;
    }
    std::string dir = home->own_dir + "/" + run->run_name_;
    try {
      create_v1_group(*home, name, dir, {});
      run->run_dirs_.push_back(dir);
      slot = home;
    } catch (const std::exception& e) {
      missing.push_back(std::string("cgroups v1: cannot create the ") + name + " group (" +
                        e.what() + "); its limit is not enforced");
    }
  };
  // Always take memory and pids when we can: they detect OOM kills and fork bombs even when
  // no limit is set by the profile.
  adopt(layout.memory, "memory", run->memory_home_, true);
  adopt(layout.cpu, "cpu", run->cpu_home_, limits.cpus.has_value());
  adopt(layout.pids, "pids", run->pids_home_, true);
  run->adopt_cpuacct(layout, v2_ok);

  if (run->memory_home_) run->memory_ = make_memory_controller(run->memory_home_->version);
  if (run->cpu_home_) run->cpu_ = make_cpu_controller(run->cpu_home_->version);
  if (run->pids_home_) run->pids_ = make_pids_controller(run->pids_home_->version);
  if (!run->memory_home_ && !run->cpu_home_ && !run->pids_home_) return nullptr;
  return run;
}

// CPU time per sandbox, for the payload's own measurements (never a limit, so never a missing
// isolation): v1's cpuacct group, shared with cpu's when they are mounted together; on v2 every
// group has cpu.stat, so the run's v2 group serves.
void RunCgroup::adopt_cpuacct(const CgroupLayout& layout, bool v2_ok) {
  if (!layout.cpuacct) return;
  if (layout.cpuacct->version == CgroupVersion::V2) {
    if (v2_ok) cpuacct_home_ = layout.cpuacct;
    return;
  }
  if (cpu_home_ && cpu_home_->mount_point == layout.cpuacct->mount_point) {
    cpuacct_home_ = layout.cpuacct;
    return;
  }
  const std::string dir = layout.cpuacct->own_dir + "/" + run_name_;
  try {
    create_v1_group(*layout.cpuacct, "cpuacct", dir, {});
    run_dirs_.push_back(dir);
    cpuacct_home_ = layout.cpuacct;
  } catch (const std::exception&) {
    // No CPU time from the cgroup: the worker falls back to its own rusage.
  }
}

RunCgroup::~RunCgroup() {
  // The run's groups go first: only then can v2_delegation_ (a member, destroyed after this
  // body) disable the controllers in our own cgroup and move us back.
  for (auto it = run_dirs_.rbegin(); it != run_dirs_.rend(); ++it) remove_tree(*it);
}

std::unique_ptr<LeafCgroup> RunCgroup::create_leaf(const std::string& name,
                                                   const Limits& limits) const {
  std::unique_ptr<LeafCgroup> leaf(new LeafCgroup());
  // Group settings per hierarchy: controllers sharing a hierarchy share one directory.
  struct Plan {
    const ControllerHome* home;
    std::string controller;
    std::vector<CgroupSetting> settings;
  };
  std::vector<Plan> plans;
  auto add = [&](const std::optional<ControllerHome>& home, const char* controller,
                 std::vector<CgroupSetting> settings) {
    if (!home) return;
    for (auto& plan : plans) {
      if (plan.home->mount_point == home->mount_point) {
        plan.settings.insert(plan.settings.end(), settings.begin(), settings.end());
        return;
      }
    }
    plans.push_back({&*home, controller, std::move(settings)});
  };
  std::vector<CgroupSetting> memory_settings;
  if (limits.memory_bytes) memory_settings = memory_->limit(*limits.memory_bytes);
  // v2: an OOM kill ends the whole sandbox, not just its largest process, so a sandbox
  // reported as OOM-killed really was (a payload that outlived its killed child would
  // otherwise be reported OOM while it went on).
  if (memory_home_ && memory_home_->version == CgroupVersion::V2) {
    memory_settings.push_back({"memory.oom.group", "1"});
  }
  add(memory_home_, "memory", memory_settings);
  add(cpu_home_, "cpu", limits.cpus ? cpu_->quota(*limits.cpus) : std::vector<CgroupSetting>{});
  add(pids_home_, "pids", limits.pids ? pids_->max(*limits.pids) : std::vector<CgroupSetting>{});
  add(cpuacct_home_, "cpuacct", {});

  bool all_v2 = true;
  for (const auto& plan : plans) {
    std::string dir = plan.home->own_dir + "/" + run_name_ + "/" + name;
    if (plan.home->version == CgroupVersion::V1) {
      all_v2 = false;
      create_v1_group(*plan.home, plan.controller.c_str(), dir, plan.settings);
    } else {
      create_v2_group(dir, plan.settings);
      leaf->v2_fd_ = UniqueFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!leaf->v2_fd_) throw_errno("open " + dir);
    }
    leaf->dirs_.push_back({dir, plan.home->version});
    if (memory_home_ && plan.home->mount_point == memory_home_->mount_point) {
      leaf->memory_dir_ = dir;
    }
    if (pids_home_ && plan.home->mount_point == pids_home_->mount_point) leaf->pids_dir_ = dir;
    if (cpuacct_home_ && plan.home->mount_point == cpuacct_home_->mount_point) {
      const bool v1 = cpuacct_home_->version == CgroupVersion::V1;
      leaf->cpu_usage_file_ = dir + (v1 ? "/cpuacct.usage" : "/cpu.stat");
    }
  }
  leaf->all_v2_ = all_v2;
  leaf->memory_ = memory_.get();
  leaf->pids_ = pids_.get();
  return leaf;
}

void RunCgroup::remove_stale(const CgroupLayout& layout) {
  std::vector<StaleScan> scans;
  std::set<std::string> seen;
  for (const auto* home : {&layout.memory, &layout.cpu, &layout.pids, &layout.cpuacct}) {
    if (!*home || !seen.insert((*home)->own_dir).second) continue;
    DIR* d = ::opendir((*home)->own_dir.c_str());
    if (d == nullptr) continue;
    StaleScan scan{(*home)->own_dir, is_hierarchy_root((*home)->own_dir, (*home)->version), {}};
    while (dirent* entry = ::readdir(d)) {
      if (run_group_owner(entry->d_name)) scan.entries.push_back(entry->d_name);
    }
    ::closedir(d);
    scans.push_back(std::move(scan));
  }
  for (const std::string& dir : stale_run_groups(scans, run_supervisor_alive)) remove_tree(dir);
}

}  // namespace bulkhead::sandbox

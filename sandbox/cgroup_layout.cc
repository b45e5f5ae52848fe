// cgroup layout detection: which hierarchy (v1 or v2) carries each controller and where our
// own cgroup is in it, from /proc/self/mountinfo and /proc/self/cgroup. Inside a cgroup
// namespace whose cgroupfs was mounted outside it (mount root "/../.."), our directory is
// found by looking for our pid.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <sstream>

#include "sandbox/cgroup.h"
#include "sandbox/file_util.h"

namespace bulkhead::sandbox {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

std::set<std::string> words(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string word;
  while (in >> word) out.insert(word);
  return out;
}

// How many leading "/.." a mount root has when the mount's root lies above our cgroup
// namespace's root ("/../.." = two levels); 0 otherwise, -1 when it lies beside it.
int levels_above_namespace(const std::string& mount_root) {
  if (mount_root.rfind("/..", 0) != 0) return 0;
  int levels = 0;
  for (const auto& part : split(mount_root, '/')) {
    if (part.empty()) continue;
    if (part != "..") return -1;
    ++levels;
  }
  return levels;
}

// Our own cgroup's directory: a mount point and a cgroup path relative to the mount's root.
// Empty when it cannot be placed (the mount shows another branch of the tree).
std::string own_dir_in(const std::string& mount_point, const std::string& mount_root,
                       const std::string& cgroup_path, const CgroupDirFinder& find_own_dir) {
  int levels = levels_above_namespace(mount_root);
  if (levels < 0) return "";
  if (levels > 0) return find_own_dir ? find_own_dir(mount_point, levels, cgroup_path) : "";
  std::string rel = cgroup_path;
  if (mount_root != "/") {
    bool under = rel.rfind(mount_root, 0) == 0 &&
                 (rel.size() == mount_root.size() || rel[mount_root.size()] == '/');
    if (!under) return "";
    rel = rel.substr(mount_root.size());
  }
  if (rel.empty() || rel == "/") return mount_point;
  return mount_point + (rel[0] == '/' ? "" : "/") + rel;
}

bool owns_controller(const std::optional<ControllerHome>& home, CgroupVersion version) {
  return home && home->version == version;
}

}  // namespace

std::string CgroupLayout::mode() const {
  bool any_v1 = owns_controller(memory, CgroupVersion::V1) ||
                owns_controller(cpu, CgroupVersion::V1) || owns_controller(pids, CgroupVersion::V1);
  bool any_v2 = owns_controller(memory, CgroupVersion::V2) ||
                owns_controller(cpu, CgroupVersion::V2) || owns_controller(pids, CgroupVersion::V2);
  if (any_v1 && (any_v2 || unified)) return "hybrid";
  if (any_v1) return "v1";
  if (any_v2 || unified) return "v2";
  return "none";
}

std::string find_own_cgroup_dir(const std::string& mount_point, int levels,
                                const std::string& cgroup_path, pid_t pid) {
  // Breadth-first over the directories `levels` below the mount point, bounded.
  const std::string rel = cgroup_path == "/" ? "" : cgroup_path;
  const std::string needle = std::to_string(pid);
  std::deque<std::pair<std::string, int>> queue = {{mount_point, 0}};
  for (int visited = 0; !queue.empty() && visited < 20000; ++visited) {
    auto [dir, depth] = queue.front();
    queue.pop_front();
    if (depth == levels) {
      auto procs = try_read_file(dir + rel + "/cgroup.procs");
      if (!procs) continue;
      std::istringstream in(*procs);
      std::string line;
      while (std::getline(in, line)) {
        if (line == needle) return dir + rel;
      }
      continue;
    }
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* entry = ::readdir(d)) {
        if (entry->d_type == DT_DIR && entry->d_name[0] != '.') {
          queue.emplace_back(dir + "/" + entry->d_name, depth + 1);
        }
      }
      ::closedir(d);
    }
  }
  return "";
}

CgroupLayout detect_cgroup_layout() {
  return parse_cgroup_layout(
      try_read_file("/proc/self/mountinfo").value_or(""),
      try_read_file("/proc/self/cgroup").value_or(""),
      [](const std::string& dir) {
        return try_read_file(dir + "/cgroup.controllers").value_or("");
      },
      [](const std::string& mount_point, int levels, const std::string& cgroup_path) {
        return find_own_cgroup_dir(mount_point, levels, cgroup_path, ::getpid());
      });
}

CgroupLayout parse_cgroup_layout(
    const std::string& mountinfo, const std::string& proc_cgroup,
    const std::function<std::string(const std::string&)>& controllers_of,
    const CgroupDirFinder& find_own_dir) {
  CgroupLayout layout;
  // /proc/self/cgroup: "4:memory:/process_api/x", "0::/user.slice/..."
  std::map<std::string, std::string> v1_paths;
  std::string v2_path;
  bool has_v2_line = false;
  for (const auto& line : split(proc_cgroup, '\n')) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      v2_path = path;
      has_v2_line = true;
    } else {
      for (const auto& c : split(controllers, ',')) v1_paths[c] = path;
    }
  }
  // /proc/self/mountinfo: "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"
  for (const auto& line : split(mountinfo, '\n')) {
    auto fields = split(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 5 || dash == fields.end()) continue;
    if (std::distance(dash, fields.end()) < 4) continue;
    const std::string& root = fields[3];
    const std::string& mount_point = fields[4];
    const std::string& fstype = *(dash + 1);
    const std::string& super_options = *(dash + 3);
    if (fstype == "cgroup2" && has_v2_line && !layout.unified) {
      std::string own = own_dir_in(mount_point, root, v2_path, find_own_dir);
      if (!own.empty()) layout.unified = ControllerHome{CgroupVersion::V2, mount_point, own};
    } else if (fstype == "cgroup") {
      for (const auto& option : split(super_options, ',')) {
        auto assign = [&](std::optional<ControllerHome>& slot) {
          if (slot || !v1_paths.count(option)) return;
          std::string own = own_dir_in(mount_point, root, v1_paths[option], find_own_dir);
          if (!own.empty()) slot = ControllerHome{CgroupVersion::V1, mount_point, own};
        };
        if (option == "memory") assign(layout.memory);
        if (option == "cpu") assign(layout.cpu);
        if (option == "pids") assign(layout.pids);
        if (option == "cpuacct") assign(layout.cpuacct);
      }
    }
  }
  if (layout.unified) {
    auto available = words(controllers_of(layout.unified->own_dir));
    auto take = [&](std::optional<ControllerHome>& slot, const char* name) {
      if (!slot && available.count(name)) slot = layout.unified;
    };
    take(layout.memory, "memory");
    take(layout.cpu, "cpu");
    take(layout.pids, "pids");
    if (!layout.cpuacct) layout.cpuacct = layout.unified;  // cpu.stat needs no controller
  }
  return layout;
}

}  // namespace bulkhead::sandbox

// cgroup v2: delegation of controllers to the run's groups, and group kill with a fallback for
// kernels without cgroup.kill.
#include "sandbox/cgroup_v2.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "sandbox/file_util.h"

namespace bulkhead::sandbox {
namespace {

std::vector<std::string> child_groups(const std::string& dir) {
  std::vector<std::string> children;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* entry = ::readdir(d)) {
      if (entry->d_type == DT_DIR && entry->d_name[0] != '.') {
        children.push_back(dir + "/" + entry->d_name);
      }
    }
    ::closedir(d);
  }
  return children;
}

// Processes in `dir` and below.
size_t kill_listed(const std::string& dir) {
  size_t found = 0;
  for (pid_t pid : cgroup_pids(dir)) {
    ::kill(pid, SIGKILL);
    ++found;
  }
  for (const auto& child : child_groups(dir)) found += kill_listed(child);
  return found;
}

bool populated(const std::string& dir) {
  return read_keyed_counter(dir + "/cgroup.events", "populated") != 0;
}

// Why the kernel refused to enable controllers in `own`, in words a user can act on.
std::string refusal_reason(const std::string& own, int err) {
  switch (err) {
    case EBUSY: {
      size_t others = cgroup_pids(own).size();
      return std::to_string(others) +
             (others == 1 ? " other process shares" : " other processes share") +
             " our cgroup, and a cgroup with processes cannot hand controllers to "
             "children (the no-internal-processes rule); run bulkhead in a cgroup of its own: "
             "systemd-run --scope -p Delegate=yes (add --user when not root), or in a "
             "container, start it as the container's only process or move the others to a leaf";
    }
    case EACCES:
    case EPERM:
      return "our cgroup is not delegated to uid " + std::to_string(::geteuid()) +
             " (its cgroup.subtree_control is not ours to write); run under systemd-run "
             "--user --scope -p Delegate=yes, or ask for a delegated subtree";
    case EROFS:
      return "the cgroup filesystem is mounted read-only here (a container without a "
             "writable cgroup)";
    default:
      return std::strerror(err);
  }
}

}  // namespace

std::vector<pid_t> cgroup_pids(const std::string& dir) {
  std::vector<pid_t> pids;
  auto text = try_read_file(dir + "/cgroup.procs");
  if (!text) return pids;
  std::istringstream in(*text);
  pid_t pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

std::unique_ptr<V2Delegation> V2Delegation::enable(const std::string& own_dir,
                                                   const std::set<std::string>& wanted,
                                                   const std::string& leaf_name,
                                                   std::vector<std::string>& missing) {
  std::unique_ptr<V2Delegation> delegation(new V2Delegation());
  delegation->own_dir_ = own_dir;
  const std::string control = own_dir + "/cgroup.subtree_control";
  auto enabled = try_read_file(control).value_or("");
  std::istringstream have_in(enabled);
  std::set<std::string> have;
  for (std::string word; have_in >> word;) have.insert(word);
  std::string to_enable;
  for (const auto& c : wanted) {
    if (!have.count(c)) to_enable += "+" + c + " ";
  }
  if (to_enable.empty()) return delegation;
  int err = try_write_file(control, to_enable);
  if (err == EBUSY) {
    // Our cgroup holds processes (at least us): park ourselves in a leaf and try again.
    std::string leaf = own_dir + "/" + leaf_name;
    if (::mkdir(leaf.c_str(), 0755) != 0) {
      err = errno;
    } else if ((err = try_write_file(leaf + "/cgroup.procs", std::to_string(::getpid()))) != 0) {
      ::rmdir(leaf.c_str());
    } else {
      delegation->self_leaf_ = leaf;
      err = try_write_file(control, to_enable);
    }
  }
  if (err != 0) {
    missing.push_back("cgroups v2: cannot enable " + to_enable + "in " + control + " (" +
                      std::strerror(err) + "): " + refusal_reason(own_dir, err) +
                      "; no memory, cpu or pids limits");
    return nullptr;  // the destructor moves us back
  }
  delegation->enabled_ = to_enable;
  return delegation;
}

V2Delegation::~V2Delegation() {
  auto warn = [](const std::string& what, int err) {
    if (err != 0) std::fprintf(stderr, "bulkhead: %s: %s\n", what.c_str(), std::strerror(err));
  };
  if (!enabled_.empty()) {
    std::string disable = enabled_;
    for (auto& c : disable) {
      if (c == '+') c = '-';
    }
    // Only possible while we are not in our own cgroup (else EBUSY): before moving back.
    warn("write '" + disable + "' to " + own_dir_ + "/cgroup.subtree_control",
         try_write_file(own_dir_ + "/cgroup.subtree_control", disable));
  }
  if (self_leaf_.empty()) return;
  warn("move back to " + own_dir_,
       try_write_file(own_dir_ + "/cgroup.procs", std::to_string(::getpid())));
  warn("rmdir " + self_leaf_, ::rmdir(self_leaf_.c_str()) == 0 ? 0 : errno);
}

void kill_v2_group(const std::string& dir) {
  int err = try_write_file(dir + "/cgroup.kill", "1");
  if (err == 0 || err == ENODEV) return;  // ENODEV: the group is already gone
  freeze_and_kill(dir);
}

bool freeze_and_kill(const std::string& dir) {
  const bool froze = try_write_file(dir + "/cgroup.freeze", "1") == 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  auto pause = std::chrono::microseconds(100);
  bool empty = false;
  // Frozen tasks cannot fork, so one pass finds them all; fatal signals still end them.
  // Without the freezer (before 5.2) a fork loop may need several passes.
  while (!empty && std::chrono::steady_clock::now() < give_up) {
    empty = kill_listed(dir) == 0 || !populated(dir);
    if (!empty) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(20000));
      empty = !populated(dir);
    }
  }
  if (froze) try_write_file(dir + "/cgroup.freeze", "0");
  return empty;
}

}  // namespace bulkhead::sandbox

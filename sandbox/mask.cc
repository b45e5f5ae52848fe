// Masks (owns sandbox/mask.h): /proc/net/unix parsing, pattern matching inside the sandbox's
// tree, and the mounts that hide each match.
#include "sandbox/mask.h"

#include <fnmatch.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/file_util.h"
#include "sandbox/mount_view.h"

namespace bulkhead::sandbox {
namespace {

bool has_wildcard(const std::string& text) {
  return text.find_first_of("*?[") != std::string::npos;
}

// Inside paths matching `pattern`, symlinks resolved inside `root`.
std::vector<std::string> matches(const std::string& root, const std::string& pattern) {
  const size_t slash = pattern.rfind('/');
  const std::string parent = resolve_in_root(root, pattern.substr(0, slash));
  const std::string name = pattern.substr(slash + 1);
  const std::string prefix = parent == "/" ? "" : parent;
  std::vector<std::string> found;
  if (!has_wildcard(name)) {
    found.push_back(resolve_in_root(root, prefix + "/" + name));
    return found;
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root + parent, ec)) {
    const std::string entry_name = entry.path().filename().string();
    if (::fnmatch(name.c_str(), entry_name.c_str(), FNM_PERIOD) == 0) {
      found.push_back(resolve_in_root(root, prefix + "/" + entry_name));
    }
  }
  return found;
}

}  // namespace

std::vector<std::string> parse_unix_socket_paths(const std::string& proc_net_unix) {
  // "Num RefCount Protocol Flags Type St Inode Path": the path is what follows the 7th field.
  std::vector<std::string> paths;
  std::istringstream lines(proc_net_unix);
  std::string line;
  while (std::getline(lines, line)) {
    size_t pos = 0;
    for (int field = 0; field < 7 && pos != std::string::npos; ++field) {
      pos = line.find_first_not_of(' ', pos);
      pos = pos == std::string::npos ? pos : line.find(' ', pos);
    }
    if (pos == std::string::npos) continue;
    pos = line.find_first_not_of(' ', pos);
    if (pos == std::string::npos || line[pos] != '/') continue;
    std::string path = line.substr(pos);
    if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(path);
  }
  return paths;
}

std::vector<std::string> host_unix_socket_paths() {
  return parse_unix_socket_paths(try_read_file("/proc/net/unix").value_or(""));
}

void apply_mask(const std::string& root, const std::string& pattern, bool sockets_only,
                const std::string& empty_file) {
  for (const auto& inside : matches(root, pattern)) {
    const std::string target = root + inside;
    struct stat st;
    if (::lstat(target.c_str(), &st) != 0) continue;
    if (sockets_only && !S_ISSOCK(st.st_mode)) continue;
    if (S_ISDIR(st.st_mode)) {
      if (::mount("tmpfs", target.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=000,size=4k,nr_inodes=1") != 0) {
        throw_errno("mount(tmpfs, " + inside + ") to mask it");
      }
      continue;
    }
    UniqueFd view = make_view(empty_file, -1, false, true);
    attach_view(view.get(), target);
  }
}

}  // namespace bulkhead::sandbox

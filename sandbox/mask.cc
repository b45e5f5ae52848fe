// Masks (owns sandbox/mask.h): /proc/net/unix parsing, pattern matching inside the sandbox's
// tree, and the mounts that hide each match.
#include "sandbox/mask.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/file_util.h"

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

void make_mask_sources(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0) throw_errno("mkdir " + dir);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0755,size=4k,nr_inodes=4") != 0) {
    throw_errno("mount(tmpfs, " + dir + ")");
  }
  const std::string file = dir + "/file";
  int fd = ::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) throw_errno("create " + file);
  ::close(fd);
  if (::mkdir((dir + "/dir").c_str(), 0) != 0) throw_errno("mkdir " + dir + "/dir");
  // The mount read-only, not the filesystem: every use is then "Permission denied" (mode 000),
  // not "Read-only file system".
  if (::mount(nullptr, dir.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    throw_errno("mount(" + dir + ", MS_REMOUNT|MS_BIND|MS_RDONLY)");
  }
}

void apply_mask(const std::string& root, const std::string& pattern, bool sockets_only,
                const std::string& sources) {
  for (const auto& inside : matches(root, pattern)) {
    const std::string target = root + inside;
    struct stat st;
    if (::lstat(target.c_str(), &st) != 0) continue;
    if (sockets_only && !S_ISSOCK(st.st_mode)) continue;
    const std::string source = sources + (S_ISDIR(st.st_mode) ? "/dir" : "/file");
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      throw_errno("mount(" + source + ", " + inside + ", MS_BIND) to mask it");
    }
  }
}

}  // namespace bulkhead::sandbox

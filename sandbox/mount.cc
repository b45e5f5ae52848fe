// Mount plan building (supervisor side) and application (init side, in the new mount ns).
// Layout while applying: a private staging tmpfs becomes the root, the host's tree is reached
// at /oldroot, the sandbox's tree is assembled at /newroot, overlay upper dirs live in the
// staging tmpfs; finally /newroot becomes / and the staging root is detached.
#include "sandbox/mount.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string_view>

#include "sandbox/error.h"

namespace bulkhead::sandbox {
namespace {

constexpr const char* kStage = "/tmp";  // any dir that exists; covered only in our namespace
constexpr const char* kOldRoot = "/oldroot";
constexpr const char* kNewRoot = "/newroot";

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

void do_mount(const char* source, const std::string& target, const char* fstype,
              unsigned long flags, const std::string& data = "") {
  if (::mount(source, target.c_str(), fstype, flags, data.empty() ? nullptr : data.c_str()) != 0) {
    throw_errno(std::string("mount(") +
                (fstype   ? fstype
                 : source ? source
                          : "") +
                ", " + target + ")");
  }
}

void make_dirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir " + prefix);
  }
}

// The target inside /newroot, created when missing (only possible on a writable parent such
// as a tmpfs we mounted; on the read-only host tree this fails with context).
std::string prepare_target(const std::string& inside, bool directory) {
  std::string target = std::string(kNewRoot) + inside;
  if (exists(target)) return target;
  if (directory) {
    make_dirs(target);
  } else {
    make_dirs(target.substr(0, target.rfind('/')));
    int fd = ::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno("create mount point " + target);
    ::close(fd);
  }
  return target;
}

// Bind-remount read-only; mount flags locked by a user namespace (nodev, nosuid...) must be
// kept, so read them back first.
void remount_read_only(const std::string& target, bool recursive) {
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  if (::syscall(SYS_mount_setattr, AT_FDCWD, target.c_str(), recursive ? AT_RECURSIVE : 0, &attr,
                sizeof attr) != 0) {
    throw_errno("mount_setattr(" + target + ", MOUNT_ATTR_RDONLY)");
  }
}

void bind(const std::string& source, const std::string& target, bool read_only, bool recursive) {
  do_mount(source.c_str(), target, nullptr, MS_BIND | (recursive ? MS_REC : 0));
  if (read_only) remount_read_only(target, recursive);
}

void mount_dev(const std::string& target) {
  do_mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m");
  for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string host = std::string(kOldRoot) + "/dev/" + node;
    std::string inside = target + "/" + node;
    if (!exists(host)) continue;
    int fd = ::open(inside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) throw_errno("create " + inside);
    ::close(fd);
    do_mount(host.c_str(), inside, nullptr, MS_BIND);
  }
  const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "fd"},
                                                       {"/proc/self/fd/0", "stdin"},
                                                       {"/proc/self/fd/1", "stdout"},
                                                       {"/proc/self/fd/2", "stderr"},
                                                       {"pts/ptmx", "ptmx"}};
  for (const auto& [to, name] : links) {
    std::string link = target + "/" + name;
    if (::symlink(to, link.c_str()) != 0) throw_errno("symlink " + link);
  }
  for (const char* dir : {"pts", "shm", "mqueue"}) {
    std::string path = target + "/" + dir;
    if (::mkdir(path.c_str(), 0755) != 0) throw_errno("mkdir " + path);
  }
  // A private devpts instance; without it `pty.openpty()` would reach the host's ptys.
  std::string pts = target + "/pts";
  if (::mount("devpts", pts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=620") != 0) {
    ::rmdir(pts.c_str());  // no ptys then, rather than the host's
  }
}

void mount_proc(const std::string& target, std::vector<std::string>& warnings) {
  if (::mount("proc", target.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    int err = errno;
    bind(std::string(kOldRoot) + "/proc", target, false, true);
    warnings.push_back(std::string("procfs: mount(proc) refused (") + std::strerror(err) +
                       "); the host's /proc is shown, so host processes are visible");
    return;
  }
  // Writable sysctls would let a root payload change the host: make them read-only.
  for (const char* sub : {"/sys", "/sysrq-trigger", "/irq", "/bus"}) {
    std::string path = target + sub;
    if (exists(path)) bind(path, path, true, true);
  }
}

void mount_overlay(const MountRecord& record, int index, std::vector<std::string>& warnings) {
  std::string lower = std::string(kOldRoot) + record.source;
  struct stat st;
  const char* problem = ::stat(lower.c_str(), &st) != 0 ? std::strerror(errno)
                        : !S_ISDIR(st.st_mode)          ? "not a directory"
                                                        : nullptr;
  if (problem != nullptr) {
    warnings.push_back("overlay: " + record.source + ": " + problem + "; not mounted");
    return;
  }
  std::string target = prepare_target(record.target, true);
  std::string upper = "/overlay/" + std::to_string(index) + "/upper";
  std::string work = "/overlay/" + std::to_string(index) + "/work";
  make_dirs(upper);
  make_dirs(work);
  std::string options = "lowerdir=" + escape_overlay_path(lower) +
                        ",upperdir=" + escape_overlay_path(upper) +
                        ",workdir=" + escape_overlay_path(work);
  if (::mount("overlay", target.c_str(), "overlay", MS_NOSUID, options.c_str()) == 0) return;
  int err = errno;
  bind(lower, target, true, true);
  warnings.push_back("overlay: mount(overlay, " + record.target + ") refused (" +
                     std::strerror(err) + "); it is read-only instead, writes there fail");
}

}  // namespace

std::string escape_overlay_path(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ',' || c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::vector<MountRecord> build_mount_plan(const MountPolicy& policy, const MountInputs& inputs) {
  std::vector<MountRecord> plan;
  plan.push_back({MountKind::HostRootReadOnly, "/", "/", true, std::nullopt, false});
  plan.push_back({MountKind::Dev, "/dev", "", false, std::nullopt, false});
  plan.push_back({MountKind::Proc, "/proc", "", false, std::nullopt, false});
  for (const auto& path : policy.tmpfs) {
    plan.push_back({MountKind::Tmpfs, path, "", false, policy.tmpfs_size_bytes, false});
  }
  auto under = [](const std::string& path, const std::string& dir) {
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
           (dir.back() == '/' || path[dir.size()] == '/');
  };
  for (const auto& path : inputs.visible_paths) {
    for (const auto& dir : policy.tmpfs) {
      if (!under(path, dir)) continue;
      plan.push_back({MountKind::Bind, path, path, true, std::nullopt, true});
      break;
    }
  }
  auto overlay_or_bind = [&](const std::string& path, bool overlay) {
    if (path.empty() || path == "/") return;
    plan.push_back({overlay ? MountKind::Overlay : MountKind::Bind, path, path, !overlay,
                    std::nullopt, false});
  };
  overlay_or_bind(inputs.home, policy.overlay_home);
  if (inputs.project_dir != inputs.home)
    overlay_or_bind(inputs.project_dir, policy.overlay_project);
  for (const auto& b : policy.binds) {
    plan.push_back({MountKind::Bind, b.target.empty() ? b.source : b.target, b.source, b.read_only,
                    std::nullopt, false});
  }
  return plan;
}

void apply_mount_plan(const std::vector<MountRecord>& plan, std::vector<std::string>& warnings) {
  // Nothing we mount may propagate back to the host, but host unmounts still reach us.
  do_mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE);
  do_mount("tmpfs", kStage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  std::string old_root = std::string(kStage) + kOldRoot;
  if (::mkdir(old_root.c_str(), 0755) != 0) throw_errno("mkdir " + old_root);
  if (::chdir(kStage) != 0) throw_errno(std::string("chdir ") + kStage);
  if (::syscall(SYS_pivot_root, ".", old_root.c_str()) != 0) throw_errno("pivot_root(staging)");
  if (::chdir("/") != 0) throw_errno("chdir /");
  if (::mkdir(kNewRoot, 0755) != 0) throw_errno(std::string("mkdir ") + kNewRoot);

  int overlay_index = 0;
  for (const auto& record : plan) {
    switch (record.kind) {
      case MountKind::HostRootReadOnly:
        bind(std::string(kOldRoot) + record.source, kNewRoot, true, true);
        break;
      case MountKind::Dev:
        mount_dev(prepare_target(record.target, true));
        break;
      case MountKind::Proc:
        mount_proc(prepare_target(record.target, true), warnings);
        break;
      case MountKind::Tmpfs: {
        std::string target = std::string(kNewRoot) + record.target;
        if (!is_dir(target)) {
          warnings.push_back("tmpfs: " + record.target + " does not exist; not mounted");
          break;
        }
        std::string options = "mode=1777";
        if (record.size_bytes) options += ",size=" + std::to_string(*record.size_bytes);
        do_mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options);
        break;
      }
      case MountKind::Overlay:
        mount_overlay(record, overlay_index++, warnings);
        break;
      case MountKind::Bind: {
        std::string source = std::string(kOldRoot) + record.source;
        if (!exists(source)) {
          if (record.skip_if_missing) break;
          throw SysError("bind source " + record.source, ENOENT);
        }
        bind(source, prepare_target(record.target, is_dir(source)), record.read_only, true);
        break;
      }
    }
  }

  // Make /newroot the root: stack it over the staging root, then detach the staging root
  // (and the host tree under it). Overlays keep their upper dirs alive by reference.
  if (::chdir(kNewRoot) != 0) throw_errno(std::string("chdir ") + kNewRoot);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) throw_errno("pivot_root(newroot)");
  if (::umount2(".", MNT_DETACH) != 0) throw_errno("umount2(old root)");
  if (::chdir("/") != 0) throw_errno("chdir /");
}

}  // namespace bulkhead::sandbox

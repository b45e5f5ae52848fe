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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "sandbox/file_util.h"
#include "sandbox/mask.h"
#include "sandbox/mount_view.h"

namespace bulkhead::sandbox {
namespace {

constexpr const char* kStage = "/tmp";  // any dir that exists; covered only in our namespace
constexpr const char* kOldRoot = "/oldroot";
constexpr const char* kNewRoot = "/newroot";
constexpr const char* kMasks = "/masks";  // a read-only tmpfs: an empty file and dir, mode 000

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

// kZygoteSpares: the spare procfs read-write like /proc (a read-only one would lock every procfs
// mounted from it read-only), the mask sources bound in read-only.
void mount_zygote_spares(const MountContext& context) {
  const std::string dir = std::string(kNewRoot) + kZygoteSpares;
  if (::mkdir(dir.c_str(), 0700) != 0) throw_errno("mkdir " + dir);
  if (context.owner && ::chown(dir.c_str(), *context.owner, *context.owner) != 0) {
    throw_errno("chown " + dir);
  }
  const std::string proc = std::string(kNewRoot) + kSpareProc;
  if (::mkdir(proc.c_str(), 0555) != 0) throw_errno("mkdir " + proc);
  do_mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  const std::string masks = std::string(kNewRoot) + kSpareMasks;
  if (::mkdir(masks.c_str(), 0555) != 0) throw_errno("mkdir " + masks);
  bind(kMasks, masks, true, false);
  const std::string lowers = std::string(kNewRoot) + kSpareLowers;
  if (::mkdir(lowers.c_str(), 0555) != 0) throw_errno("mkdir " + lowers);
}

// Makes `path` (inside an overlay's target) hidden in the overlay's upper dir, the way a mask
// hides it: a directory comes out empty (each entry of the lower one whited out), anything
// else an empty file. Parents made in the upper dir take the lower's owner and mode. Returns
// false (nothing made) where the lower has nothing there or it is a symlink, which a mask
// resolves and this would not.
bool hide_in_upper(const std::string& lower, const std::string& upper, const std::string& rel) {
  struct stat st;
  if (::lstat((lower + rel).c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return false;
  for (size_t slash = rel.find('/', 1); slash != std::string::npos;
       slash = rel.find('/', slash + 1)) {
    const std::string part = rel.substr(0, slash);
    struct stat parent;
    if (::lstat((upper + part).c_str(), &parent) == 0) continue;
    if (::stat((lower + part).c_str(), &parent) != 0) throw_errno("stat " + lower + part);
    if (::mkdir((upper + part).c_str(), parent.st_mode & 07777) != 0) {
      throw_errno("mkdir " + upper + part);
    }
    if (::chown((upper + part).c_str(), parent.st_uid, parent.st_gid) != 0) {
      throw_errno("chown " + upper + part);
    }
  }
  const std::string made = upper + rel;
  if (!S_ISDIR(st.st_mode)) {
    UniqueFd file(::open(made.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    if (!file) throw_errno("create " + made);
    return true;
  }
  if (::mkdir(made.c_str(), 0) != 0) throw_errno("mkdir " + made);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(lower + rel, ec)) {
    const std::string out = made + "/" + entry.path().filename().string();
    if (::mknod(out.c_str(), S_IFCHR, makedev(0, 0)) != 0) throw_errno("mknod(whiteout) " + out);
  }
  if (ec) {  // unreadable: the whole directory whited out instead
    std::filesystem::remove_all(made);
    if (::mknod(made.c_str(), S_IFCHR, makedev(0, 0)) != 0) throw_errno("mknod(whiteout) " + made);
  }
  return true;
}

// The lower layer as the payload should see it: idmapped when the record asks (attached in the
// staging tmpfs), else the host path itself. An idmap the filesystem refuses is reported.
std::string overlay_lower(const MountRecord& record, const std::string& dir,
                          const MountContext& context, std::vector<std::string>& warnings) {
  std::string host = std::string(kOldRoot) + record.source;
  if (!record.idmap || context.idmap_userns_fd < 0) return host;
  try {
    UniqueFd view = make_view(host, context.idmap_userns_fd, false, true);
    std::string lower = dir + "/lower";
    make_dirs(lower);
    attach_view(view.get(), lower);
    return lower;
  } catch (const SysError& e) {
    warnings.push_back("idmap: " + std::string(e.what()) + "; " + record.source +
                       " shows its host owners as nobody, and the sandbox's root cannot "
                       "change what is there");
    return host;
  }
}

// `hidden`: the masks (inside paths) to make in its upper dir (MountContext::expose_overlays);
// each one made is removed from it, the others stay masks to mount.
void mount_overlay(const MountRecord& record, int index, const MountContext& context,
                   std::vector<std::string>& hidden, std::vector<std::string>& warnings) {
  struct stat st;
  std::string host = std::string(kOldRoot) + record.source;
  const char* problem = ::stat(host.c_str(), &st) != 0 ? std::strerror(errno)
                        : !S_ISDIR(st.st_mode)         ? "not a directory"
                                                       : nullptr;
  if (problem != nullptr) {
    warnings.push_back("overlay: " + record.source + ": " + problem + "; not mounted");
    return;
  }
  std::string target = prepare_target(record.target, true);
  std::string dir = "/overlay/" + std::to_string(index);
  std::string lower =
      context.overlay_lowers.empty()
          ? overlay_lower(record, dir, context, warnings)
          : std::string(kOldRoot) + context.overlay_lowers + "/" + std::to_string(index);
  std::string upper = dir + "/upper";
  std::string work = dir + "/work";
  make_dirs(upper);
  make_dirs(work);
  // The merged root takes the upper dir's owner and mode: give it the lower's, as seen.
  if (::stat(lower.c_str(), &st) != 0) throw_errno("stat " + record.source);
  if (::chown(upper.c_str(), st.st_uid, st.st_gid) != 0) throw_errno("chown " + upper);
  if (::chmod(upper.c_str(), st.st_mode & 07777) != 0) throw_errno("chmod " + upper);
  std::erase_if(hidden, [&](const std::string& path) {
    return hide_in_upper(lower, upper, path.substr(record.target.size()));
  });
  std::string options = "lowerdir=" + escape_overlay_path(lower) +
                        ",upperdir=" + escape_overlay_path(upper) +
                        ",workdir=" + escape_overlay_path(work);
  // xino: readdir's d_ino and stat's st_ino agree, and st_dev is the overlay's, although the
  // layers are on different filesystems (the kernel has it since 4.17).
  // A zygote's children take this overlay, without what is mounted under it, as their lower.
  auto expose = [&] {
    if (!context.expose_overlays) return;
    const std::string spare = std::string(kNewRoot) + kSpareLowers + "/" + std::to_string(index);
    make_dirs(spare);
    do_mount(target.c_str(), spare, nullptr, MS_BIND);
  };
  if (::mount("overlay", target.c_str(), "overlay", MS_NOSUID, (options + ",xino=on").c_str()) ==
      0) {
    expose();
    return;
  }
  if (::mount("overlay", target.c_str(), "overlay", MS_NOSUID, options.c_str()) == 0) {
    warnings.push_back("overlay: xino=on refused for " + record.target +
                       "; inode numbers from readdir and stat may differ there");
    expose();
    return;
  }
  int err = errno;
  std::string lower_dir = std::string(kOldRoot) + record.source;
  bind(lower_dir, target, true, true);
  warnings.push_back("overlay: mount(overlay, " + record.target + ") refused (" +
                     std::strerror(err) + "); it is read-only instead, writes there fail");
}

// An image directory as the new root: an overlay (writes to a staging dir) so that mount
// points for the project, $HOME and the visible paths can be created in it.
void mount_image_root(const std::string& image) {
  std::string lower = std::string(kOldRoot) + image;
  if (!is_dir(lower)) throw SysError("image " + image, ENOTDIR);
  make_dirs("/overlay/root/upper");
  make_dirs("/overlay/root/work");
  do_mount("overlay", kNewRoot, "overlay", MS_NOSUID,
           "lowerdir=" + escape_overlay_path(lower) +
               ",upperdir=/overlay/root/upper,workdir=/overlay/root/work");
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

namespace {

bool is_under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (dir.back() == '/' || path[dir.size()] == '/');
}

// Profile masks ("~/" under HOME), then the host's sockets, except where a tmpfs or an overlay
// already keeps them out of reach (a socket in an overlay's lower layer cannot be connected
// to through the overlay).
void add_masks(std::vector<MountRecord>& plan, const MountPolicy& policy,
               const MountInputs& inputs) {
  auto mask = [&](const std::string& path, bool sockets_only) {
    MountRecord record{MountKind::Mask, path, "", true, std::nullopt, true};
    record.sockets_only = sockets_only;
    plan.push_back(record);
  };
  for (const auto& path : policy.mask) {
    if (path.rfind("~/", 0) != 0) {
      mask(path, false);
    } else if (!inputs.home.empty() && inputs.home != "/") {
      mask(inputs.home + path.substr(1), false);
    }
  }
  std::vector<std::string> covered = policy.tmpfs;
  if (policy.overlay_home && !inputs.home.empty()) covered.push_back(inputs.home);
  if (policy.overlay_project && !inputs.project_dir.empty()) covered.push_back(inputs.project_dir);
  for (const auto& socket : inputs.host_sockets) {
    bool reachable = true;
    for (const auto& dir : covered) reachable = reachable && !is_under(socket, dir);
    if (reachable) mask(socket, true);
  }
}

}  // namespace

std::optional<uint64_t> tmpfs_size_for(const MountPolicy& policy,
                                       std::optional<uint64_t> memory_limit) {
  if (policy.tmpfs_size_bytes && memory_limit) {
    return std::min(*policy.tmpfs_size_bytes, *memory_limit);
  }
  return policy.tmpfs_size_bytes ? policy.tmpfs_size_bytes : memory_limit;
}

std::vector<MountRecord> build_mount_plan(const MountPolicy& policy, const MountInputs& inputs) {
  std::vector<MountRecord> plan;
  const std::string root = inputs.image_root.empty() ? "/" : inputs.image_root;
  plan.push_back({MountKind::HostRootReadOnly, "/", root, true, std::nullopt, false});
  plan.push_back({MountKind::Dev, "/dev", "", false, std::nullopt, false});
  if (!inputs.terminal.empty()) {  // so ttyname() finds it, as in a container
    plan.push_back({MountKind::Bind, "/dev/console", inputs.terminal, false, std::nullopt, true});
  }
  plan.push_back({MountKind::Proc, "/proc", "", false, std::nullopt, false});
  if (inputs.zygote_spares) {
    plan.push_back({MountKind::ZygoteSpares, kZygoteSpares, "", false, std::nullopt, false});
  }
  const auto tmpfs_size = tmpfs_size_for(policy, inputs.memory_limit);
  for (const auto& path : policy.tmpfs) {
    plan.push_back({MountKind::Tmpfs, path, "", false, tmpfs_size, false});
  }
  for (const auto& path : inputs.bridges) {
    MountRecord bridge{MountKind::Tmpfs, path, "", false, uint64_t{1} << 20, false};
    bridge.mode = 0755;
    plan.push_back(bridge);
  }
  std::vector<std::string> hiding = policy.tmpfs;
  hiding.insert(hiding.end(), inputs.bridges.begin(), inputs.bridges.end());
  for (const auto& path : inputs.visible_paths) {
    if (!inputs.image_root.empty()) {
      plan.push_back({MountKind::Bind, path, path, true, std::nullopt, true});
      continue;
    }
    for (const auto& dir : hiding) {
      if (!is_under(path, dir)) continue;
      plan.push_back({MountKind::Bind, path, path, true, std::nullopt, true});
      break;
    }
  }
  auto overlay_or_bind = [&](const std::string& path, bool overlay) {
    if (path.empty() || path == "/") return;
    plan.push_back({overlay ? MountKind::Overlay : MountKind::Bind, path, path, !overlay,
                    std::nullopt, false, inputs.idmap});
  };
  overlay_or_bind(inputs.home, policy.overlay_home);
  if (inputs.project_dir != inputs.home)
    overlay_or_bind(inputs.project_dir, policy.overlay_project);
  for (const auto& path : inputs.git_dirs) {
    plan.push_back({MountKind::Bind, path, path, true, std::nullopt, true, inputs.idmap});
  }
  add_masks(plan, policy, inputs);
  for (const auto& b : policy.binds) {
    plan.push_back({MountKind::Bind, b.target.empty() ? b.source : b.target, b.source, b.read_only,
                    std::nullopt, false, inputs.idmap});
  }
  return plan;
}

void apply_mount_plan(const std::vector<MountRecord>& plan, const MountContext& context,
                      std::vector<std::string>& warnings) {
  // Nothing we mount may propagate back to the host, but host unmounts still reach us.
  do_mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE);
  std::string stage_options = "mode=0755";
  if (context.stage_size) stage_options += ",size=" + std::to_string(*context.stage_size);
  do_mount("tmpfs", kStage, "tmpfs", MS_NOSUID | MS_NODEV, stage_options);
  std::string old_root = std::string(kStage) + kOldRoot;
  if (::mkdir(old_root.c_str(), 0755) != 0) throw_errno("mkdir " + old_root);
  if (::chdir(kStage) != 0) throw_errno(std::string("chdir ") + kStage);
  if (::syscall(SYS_pivot_root, ".", old_root.c_str()) != 0) throw_errno("pivot_root(staging)");
  if (::chdir("/") != 0) throw_errno("chdir /");
  if (::mkdir(kNewRoot, 0755) != 0) throw_errno(std::string("mkdir ") + kNewRoot);
  // A zygote's child binds the zygote's mask sources (under the old root) instead of its own.
  const std::string masks =
      context.mask_sources.empty() ? kMasks : std::string(kOldRoot) + context.mask_sources;
  if (context.mask_sources.empty()) make_mask_sources(kMasks);

  const std::string owner = context.owner ? ",uid=" + std::to_string(*context.owner) +
                                                ",gid=" + std::to_string(*context.owner)
                                          : "";
  std::set<std::string> tmpfs_done;  // resolved targets: /var/run is often /run
  // A zygote: each plain mask under an overlay goes to the innermost one's upper dir
  // (kSpareLowers); those made there are not mounted.
  std::map<const MountRecord*, std::vector<std::string>> hidden;
  std::set<std::string> masks_made;
  if (context.expose_overlays) {
    for (const auto& mask : plan) {
      if (mask.kind != MountKind::Mask || mask.sockets_only ||
          mask.target.find_first_of("*?[") != std::string::npos) {
        continue;
      }
      const MountRecord* innermost = nullptr;
      for (const auto& overlay : plan) {
        if (overlay.kind == MountKind::Overlay && is_under(mask.target, overlay.target) &&
            (!innermost || overlay.target.size() > innermost->target.size())) {
          innermost = &overlay;
        }
      }
      if (innermost) hidden[innermost].push_back(mask.target);
    }
  }
  int overlay_index = 0;
  bool image_root = false;
  for (const auto& record : plan) {
    switch (record.kind) {
      case MountKind::HostRootReadOnly:
        if (record.source == "/") {
          bind(std::string(kOldRoot) + record.source, kNewRoot, true, true);
        } else {
          mount_image_root(record.source);
          image_root = true;
        }
        break;
      case MountKind::Dev:
        mount_dev(prepare_target(record.target, true));
        break;
      case MountKind::Proc:
        mount_proc(prepare_target(record.target, true), warnings);
        break;
      case MountKind::Tmpfs: {
        std::string inside = resolve_in_root(kNewRoot, record.target);
        std::string target = std::string(kNewRoot) + inside;
        if (!is_dir(target)) {
          warnings.push_back("tmpfs: " + record.target + " does not exist; not mounted");
          break;
        }
        if (!tmpfs_done.insert(inside).second) break;
        char mode[8];
        std::snprintf(mode, sizeof mode, "%o", record.mode);
        std::string options = "mode=" + std::string(mode) + owner;
        if (record.size_bytes) options += ",size=" + std::to_string(*record.size_bytes);
        do_mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options);
        break;
      }
      case MountKind::Overlay: {
        std::vector<std::string>& to_hide = hidden[&record];
        std::vector<std::string> wanted = to_hide;
        mount_overlay(record, overlay_index++, context, to_hide, warnings);
        for (const auto& path : wanted) {
          if (std::find(to_hide.begin(), to_hide.end(), path) == to_hide.end()) {
            masks_made.insert(path);
          }
        }
        break;
      }
      case MountKind::Bind: {
        std::string source = std::string(kOldRoot) + record.source;
        if (!exists(source)) {
          if (record.skip_if_missing) break;
          throw SysError("bind source " + record.source, ENOENT);
        }
        std::string target = prepare_target(record.target, is_dir(source));
        if (record.idmap && context.idmap_userns_fd >= 0) {
          try {
            UniqueFd view = make_view(source, context.idmap_userns_fd, true, record.read_only);
            attach_view(view.get(), target);
            break;
          } catch (const SysError& e) {
            warnings.push_back("idmap: " + std::string(e.what()) + "; " + record.source +
                               " shows its host owners as nobody");
          }
        }
        bind(source, target, record.read_only, true);
        break;
      }
      case MountKind::Mask:
        if (masks_made.count(record.target) != 0) break;  // made in an overlay's upper dir
        apply_mask(kNewRoot, record.target, record.sockets_only, masks);
        break;
      case MountKind::ZygoteSpares:
        mount_zygote_spares(context);
        break;
    }
  }

  // An image's root was writable only so mount points could be made in it.
  if (image_root) remount_read_only(kNewRoot, false);

  // Make /newroot the root: stack it over the staging root, then detach the staging root
  // (and the host tree under it). Overlays keep their upper dirs alive by reference.
  if (::chdir(kNewRoot) != 0) throw_errno(std::string("chdir ") + kNewRoot);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) throw_errno("pivot_root(newroot)");
  if (::umount2(".", MNT_DETACH) != 0) throw_errno("umount2(old root)");
  if (::chdir("/") != 0) throw_errno("chdir /");
}

}  // namespace bulkhead::sandbox

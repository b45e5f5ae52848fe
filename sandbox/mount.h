// The sandbox's filesystem view, described first as a list of mount records (built in the
// supervisor) and applied later inside the new mount namespace by our init.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/profile.h"

namespace bulkhead::sandbox {

enum class MountKind {
  HostRootReadOnly,  // the host's / bound recursively, read-only, nosuid (the `host` image),
                     // or an image directory (source) as an overlay made read-only at the end
  Dev,               // minimal /dev: tmpfs, null zero full random urandom tty, devpts, fd links
  Proc,              // a fresh procfs for the new pid namespace; /proc/sys read-only
  Tmpfs,             // private tmpfs
  Overlay,           // reads see the host's files, writes land in the sandbox's upper dir
  Bind,              // host path bound in, read-write or read-only
  Mask,              // hidden under an unreadable empty file or directory (sandbox/mask.h)
  ZygoteSpares,      // what a zygote's children need from its tree, at kZygoteSpares (below)
};

// What a zygote's sandbox keeps for its children (sandbox/forked.h), under /dev (a tmpfs of the
// sandbox's) in a directory only the sandbox's root may enter:
// - proc: a second procfs, fully visible. The kernel lets a process in a less privileged mount
//   namespace mount a procfs (for a pid namespace of its own) only while one is already fully
//   visible there, and the sandbox's /proc has read-only mounts over /proc/sys and others.
// - masks: the mask sources, so a child's masks are the same files as the zygote's (owned by
//   the host's root: unreadable even to the root of the payload's user namespace).
// - lower/N: the zygote's Nth overlay bound again without the mounts under it, as the lower
//   layer of its children's Nth overlay. A child's mount namespace is less privileged than the
//   zygote's, so the kernel locks every mount it copies, and refuses an overlay whose lower
//   layer has locked mounts under it (they could be unmounted to see what they hide): the
//   zygote's $HOME, with masks and the project under it, cannot be a lower layer as it is. The
//   masks under an overlay are made in its upper dir instead (an empty file; a directory whose
//   entries are whited out), so this view hides what they hide.
constexpr const char* kZygoteSpares = "/dev/.bulkhead-zygote";
constexpr const char* kSpareProc = "/dev/.bulkhead-zygote/proc";
constexpr const char* kSpareMasks = "/dev/.bulkhead-zygote/masks";
constexpr const char* kSpareLowers = "/dev/.bulkhead-zygote/lower";

struct MountRecord {
  MountKind kind;
  std::string target;  // path inside the sandbox
  std::string source;  // host path (Overlay, Bind)
  bool read_only = false;
  std::optional<uint64_t> size_bytes;  // Tmpfs
  bool skip_if_missing = false;        // Bind: a missing source is not an error
  bool idmap = false;                  // Overlay lower, Bind: seen through MountContext's idmap
  bool sockets_only = false;           // Mask: only where the target is a unix socket
  unsigned mode = 01777;               // Tmpfs: its root directory's mode
};

// What init needs besides the records (from the run's Identity and limits).
struct MountContext {
  int idmap_userns_fd = -1;            // user namespace for idmapped views; -1: none
  std::optional<uint32_t> owner;       // host uid/gid owning the sandbox's own tmpfs
  std::optional<uint64_t> stage_size;  // size= of the tmpfs holding the overlay uppers
  std::string mask_sources;            // a zygote's child: the zygote's (kSpareMasks); "": new
  std::string overlay_lowers;          // a zygote's child: the zygote's (kSpareLowers); "": the
                                       // records' sources
  bool expose_overlays = false;        // a zygote: its overlays at kSpareLowers, masks under
                                       // them made in their upper dirs
};

struct MountInputs {
  std::string home;         // $HOME ("" when unset)
  std::string project_dir;  // pytest's rootdir, else the cwd
  // Host paths the payload needs (its interpreter, bulkhead's worker plugin) that a private
  // tmpfs would hide: bound back read-only after the tmpfs mounts.
  std::vector<std::string> visible_paths;
  std::optional<uint64_t> memory_limit;   // caps every tmpfs size (tmpfs_size_for)
  std::vector<std::string> host_sockets;  // pathname sockets of the host, to mask
  bool idmap = false;                     // project, HOME and binds as idmapped views
  std::vector<std::string> bridges;       // unsearchable ancestors (sandbox/bridges.h)
  // "" : the host's /. Else a host directory used as the sandbox's / (see SandboxOptions);
  // the visible paths are then always bound in, since the image does not have them.
  std::string image_root;
  std::vector<std::string> git_dirs;  // the project's git dirs elsewhere (project_repo.h)
  bool zygote_spares = false;         // a zygote's sandbox: kZygoteSpares after /proc
  std::string terminal;  // the payload's pty (a host /dev/pts path), shown as /dev/console
};

// size= of the sandbox's tmpfs mounts (listed ones and the overlays' uppers): the profile's
// tmpfs_size, at most the memory limit (a tmpfs cannot hold more than the memory it is charged
// to, and without a memory cgroup the size is what stops it); nullopt: the kernel's default.
std::optional<uint64_t> tmpfs_size_for(const MountPolicy& policy,
                                       std::optional<uint64_t> memory_limit);

// Records in the order they are applied: host root, /dev, /proc, tmpfs, bridges, visible paths
// under a tmpfs or bridge, then (so a project under /tmp stays visible) HOME overlay, project
// overlay, masks (profile masks, then host sockets outside the tmpfs and overlays), binds.
std::vector<MountRecord> build_mount_plan(const MountPolicy& policy, const MountInputs& inputs);

// Applies the plan inside a fresh mount namespace and pivots into the result. Runs in the
// sandbox's init before any payload starts. Degradations (overlay refused -> read-only bind,
// procfs refused -> host /proc) are appended to `warnings`; anything else throws SysError.
void apply_mount_plan(const std::vector<MountRecord>& plan, const MountContext& context,
                      std::vector<std::string>& warnings);

// Escapes ',' ':' and '\' for overlayfs option values.
std::string escape_overlay_path(const std::string& path);

}  // namespace bulkhead::sandbox

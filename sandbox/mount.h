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
  HostRootReadOnly,  // the host's / bound recursively, read-only, nosuid (the `host` image)
  Dev,               // minimal /dev: tmpfs, null zero full random urandom tty, devpts, fd links
  Proc,              // a fresh procfs for the new pid namespace; /proc/sys read-only
  Tmpfs,             // private tmpfs
  Overlay,           // reads see the host's files, writes land in the sandbox's upper dir
  Bind,              // host path bound in, read-write or read-only
};

struct MountRecord {
  MountKind kind;
  std::string target;  // path inside the sandbox
  std::string source;  // host path (Overlay, Bind)
  bool read_only = false;
  std::optional<uint64_t> size_bytes;  // Tmpfs
  bool skip_if_missing = false;        // Bind: a missing source is not an error
};

struct MountInputs {
  std::string home;         // $HOME ("" when unset)
  std::string project_dir;  // pytest's rootdir, else the cwd
  // Host paths the payload needs (its interpreter, bulkhead's worker plugin) that a private
  // tmpfs would hide: bound back read-only after the tmpfs mounts.
  std::vector<std::string> visible_paths;
};

// Records in the order they are applied: host root, /dev, /proc, tmpfs, visible paths under a
// tmpfs, then (so a project under /tmp stays visible) HOME overlay, project overlay, binds.
std::vector<MountRecord> build_mount_plan(const MountPolicy& policy, const MountInputs& inputs);

// Applies the plan inside a fresh mount namespace and pivots into the result. Runs in the
// sandbox's init before any payload starts. Degradations (overlay refused -> read-only bind,
// procfs refused -> host /proc) are appended to `warnings`; anything else throws SysError.
void apply_mount_plan(const std::vector<MountRecord>& plan, std::vector<std::string>& warnings);

// Escapes ',' ':' and '\' for overlayfs option values.
std::string escape_overlay_path(const std::string& path);

}  // namespace bulkhead::sandbox

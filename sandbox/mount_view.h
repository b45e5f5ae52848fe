// Detached mount views built with the new mount API: a clone of a mount tree, optionally
// idmapped (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12; as an overlay's lower layer, 5.19)
// and read-only, then attached where it belongs. An idmapped view shows files with their owners
// shifted through a user namespace's map: a payload in that namespace sees its project and HOME
// owned by the same uids as on the host, and its root's capabilities act on them.
#pragma once

#include <string>

#include "sandbox/fd.h"

namespace bulkhead::sandbox {

// A detached clone of the mount at `path` (its whole tree when `recursive`), nosuid, idmapped
// through `userns_fd` unless it is -1, read-only when asked. Throws SysError naming the step.
UniqueFd make_view(const std::string& path, int userns_fd, bool recursive, bool read_only);

// Attaches a detached mount (from make_view) at `target`. Throws SysError.
void attach_view(int mount_fd, const std::string& target);

}  // namespace bulkhead::sandbox

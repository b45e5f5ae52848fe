// The user namespace used when not root: the caller's uid and gid map to themselves inside,
// so files keep their owners; setgroups is denied as the kernel requires for unprivileged maps.
#pragma once

#include <sys/types.h>

namespace bulkhead::sandbox {

// Writes /proc/<pid>/setgroups, uid_map and gid_map for `child`. Throws SysError.
void write_identity_maps(pid_t child, uid_t uid, gid_t gid);

}  // namespace bulkhead::sandbox

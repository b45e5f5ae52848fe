// Detached mount views (owns sandbox/mount_view.h): open_tree, mount_setattr, move_mount.
#include "sandbox/mount_view.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/error.h"

namespace bulkhead::sandbox {

UniqueFd make_view(const std::string& path, int userns_fd, bool recursive, bool read_only) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), flags)));
  if (!tree) throw_errno("open_tree(" + path + ")");
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_NOSUID | (read_only ? MOUNT_ATTR_RDONLY : 0);
  if (userns_fd >= 0) {
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns_fd);
  }
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0),
                &attr, sizeof attr) != 0) {
    throw_errno("mount_setattr(" + path + (userns_fd >= 0 ? ", MOUNT_ATTR_IDMAP)" : ")"));
  }
  return tree;
}

void attach_view(int mount_fd, const std::string& target) {
  if (::syscall(SYS_move_mount, mount_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) !=
      0) {
    throw_errno("move_mount(" + target + ")");
  }
}

}  // namespace bulkhead::sandbox

// uid/gid maps for the rootless user namespace.
#include "sandbox/user.h"

#include <string>

#include "sandbox/file_util.h"

namespace bulkhead::sandbox {

void write_identity_maps(pid_t child, uid_t uid, gid_t gid) {
  const std::string proc = "/proc/" + std::to_string(child);
  write_file(proc + "/setgroups", "deny");
  write_file(proc + "/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n");
  write_file(proc + "/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n");
}

}  // namespace bulkhead::sandbox

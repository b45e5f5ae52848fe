// Capabilities and privilege locks for the payload: empty bounding, ambient and inheritable
// sets except what the profile keeps (libcap), root's special treatment switched off, and
// no_new_privs so nothing exec'd can gain privileges.
#pragma once

#include <sys/capability.h>

#include <string>
#include <vector>

namespace bulkhead::sandbox {

// Resolves names like "CAP_NET_BIND_SERVICE" (supervisor side). Throws UserError.
std::vector<cap_value_t> resolve_capabilities(const std::vector<std::string>& names);

// Drops every capability not in `keep` from all sets, locks securebits, sets no_new_privs.
// Runs in the payload just before seccomp and exec. Throws SysError. `root_semantics` (a root
// payload in its own user namespace): `keep` bounds what root has, exec gives root the bounding
// set as usual, and no securebit is locked; ambient and inheritable stay empty.
void drop_privileges(const std::vector<cap_value_t>& keep, bool root_semantics = false);

}  // namespace bulkhead::sandbox

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

// Capabilities a zygote (a payload that forks sandboxes of its own, sandbox/forked.h) holds on
// top of `keep`, in the user namespace it is in: new namespaces and mounts (SYS_ADMIN), `lo`
// in them (NET_ADMIN), trimming its children's sets (SETPCAP).
const std::vector<cap_value_t>& forking_capabilities();

// The zygote's variant of drop_privileges, before its exec: bounding and permitted sets are
// `keep` plus forking_capabilities(), no_new_privs; nothing is locked (each forked child drops
// the rest with drop_privileges). Without root semantics the held set is also inheritable and
// ambient, so that it survives the exec; NOROOT|NO_SETUID_FIXUP are set, unlocked.
void keep_forking_privileges(const std::vector<cap_value_t>& keep, bool root_semantics);

// The zygote after its exec: only `keep` effective (the interpreter's own accesses are those of
// a worker's payload), and inheritable and ambient as drop_privileges leaves them, so programs
// it runs get what a worker's would; the forking capabilities stay permitted. Throws SysError.
void settle_forking_privileges(const std::vector<cap_value_t>& keep, bool root_semantics);

// Makes every permitted capability effective (a zygote's child before its setup).
void raise_permitted();

}  // namespace bulkhead::sandbox

// The sandbox's network: a fresh network namespace holds only `lo`, which starts down; this
// brings it up. Also the UTS name (hostname = the sandbox's name), and the listening sockets
// made inside for a caller outside (TCP on the sandbox's loopback, unix sockets on its own
// filesystem), handed out over a unix socket with SCM_RIGHTS: this works rootless, where the
// caller could not setns() into the sandbox's network namespace.
#pragma once

#include <string>
#include <vector>

#include "sandbox/fd.h"
#include "sandbox/mount.h"
#include "sandbox/sandbox.h"

namespace bulkhead::sandbox {

// Brings `lo` up with SIOCSIFFLAGS. Throws SysError.
void bring_up_loopback();
// sethostname(name). Throws SysError.
void set_hostname(const std::string& name);

// In our own network namespace (never the host's): any uid may bind ports below 1024 and open
// ICMP echo sockets, as the host's root could; for a root payload in a user namespace, whose
// capabilities do not reach a network namespace the host owns. Throws SysError.
void allow_low_ports_and_ping(const std::string& proc = "/proc");

// Unix listeners need a directory the sandbox may write: each one whose directory exists on
// the host and lies on no private tmpfs, overlay or writable bind gets a tmpfs over that
// directory (which also hides the host's sockets there), after the plan's other tmpfs mounts.
void add_listener_dirs(const std::vector<ListenerSpec>& specs, std::vector<MountRecord>& plan);

// In init, after the mounts and `lo`: makes each listener (TCP ones when `own_network`, unix
// ones when `own_mounts`; parent directories of unix ones are created), sends them on
// `socket` (SOCK_SEQPACKET) and closes them. Throws SysError naming the address.
void hand_out_listeners(const std::vector<ListenerSpec>& specs, bool own_network, bool own_mounts,
                        int socket);

// The caller's side: reads until init closes its end. Returns `count` fds, parallel to the
// specs (invalid where none was made). Throws SysError.
std::vector<UniqueFd> receive_listeners(int socket, std::size_t count);

}  // namespace bulkhead::sandbox

// The sandbox's network: a fresh network namespace holds only `lo`, which starts down; this
// brings it up. Also the UTS name (hostname = the sandbox's name).
#pragma once

#include <string>

namespace bulkhead::sandbox {

// Brings `lo` up with SIOCSIFFLAGS. Throws SysError.
void bring_up_loopback();
// sethostname(name). Throws SysError.
void set_hostname(const std::string& name);

// In our own network namespace (never the host's): any uid may bind ports below 1024 and open
// ICMP echo sockets, as the host's root could; for a root payload in a user namespace, whose
// capabilities do not reach a network namespace the host owns. Throws SysError.
void allow_low_ports_and_ping(const std::string& proc = "/proc");

}  // namespace bulkhead::sandbox

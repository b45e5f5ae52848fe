// The sandbox's network: a fresh network namespace holds only `lo`, which starts down; this
// brings it up. Also the UTS name (hostname = the sandbox's name).
#pragma once

#include <string>

namespace bulkhead::sandbox {

// Brings `lo` up with SIOCSIFFLAGS. Throws SysError.
void bring_up_loopback();
// sethostname(name). Throws SysError.
void set_hostname(const std::string& name);

}  // namespace bulkhead::sandbox

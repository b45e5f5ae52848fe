// Loopback bring-up and hostname inside the sandbox's own net and UTS namespaces.
#include "sandbox/net.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "sandbox/file_util.h"

namespace bulkhead::sandbox {

void bring_up_loopback() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno("socket(AF_INET) for lo");
  struct ifreq request = {};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) throw_errno("ioctl(SIOCGIFFLAGS, lo)");
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) throw_errno("ioctl(SIOCSIFFLAGS, lo up)");
}

void set_hostname(const std::string& name) {
  if (::sethostname(name.data(), name.size()) != 0) throw_errno("sethostname(" + name + ")");
}

void allow_low_ports_and_ping() {
  // Per network namespace: the writer's (ours), whichever procfs the path goes through.
  write_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0");
  write_file("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
}

}  // namespace bulkhead::sandbox

// Loopback bring-up and hostname inside the sandbox's own net and UTS namespaces.
#include "sandbox/net.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
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

void allow_low_ports_and_ping(const std::string& proc) {
  // Per network namespace: the writer's (ours), whichever procfs the path goes through.
  write_file(proc + "/sys/net/ipv4/ip_unprivileged_port_start", "0");
  // Every group our user namespace maps (the kernel refuses ids it does not map).
  unsigned long long inside = 0, count = 2147483648ULL;
  if (auto map = try_read_file("/proc/self/gid_map")) {
    unsigned long long outside = 0;
    std::sscanf(map->c_str(), "%llu %llu %llu", &inside, &outside, &count);
  }
  const unsigned long long last = std::min(inside + count - 1, 2147483647ULL);
  write_file(proc + "/sys/net/ipv4/ping_group_range",
             std::to_string(inside) + " " + std::to_string(last));
}

}  // namespace bulkhead::sandbox

// Loopback bring-up and hostname inside the sandbox's own net and UTS namespaces; listeners
// made inside and handed out with SCM_RIGHTS.
#include "sandbox/net.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

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

namespace {

std::string describe(const ListenerSpec& spec) {
  if (spec.unix_socket) return "unix:" + spec.address;
  const bool v6 = spec.address.find(':') != std::string::npos;
  return (v6 ? "[" + spec.address + "]" : spec.address) + ":" + std::to_string(spec.port);
}

// mkdir -p of `path`'s parent directories (mode 0755).
void make_parents(const std::string& path) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) continue;
    if (errno == EROFS) {
      throw SysError("mkdir " + dir + " for the unix listener " + path +
                         " (the sandbox's filesystem is read-only there: choose a directory "
                         "that exists on the host, or one under a private tmpfs such as /tmp)",
                     EROFS);
    }
    throw_errno("mkdir " + dir);
  }
}

UniqueFd make_unix_listener(const ListenerSpec& spec) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (spec.address.empty() || spec.address[0] != '/' ||
      spec.address.size() >= sizeof address.sun_path) {
    throw SysError("listener " + describe(spec) + ": not an absolute path shorter than " +
                       std::to_string(sizeof address.sun_path) + " bytes",
                   EINVAL);
  }
  std::memcpy(address.sun_path, spec.address.c_str(), spec.address.size() + 1);
  make_parents(spec.address);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket(AF_UNIX) for " + describe(spec));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw_errno("bind(" + describe(spec) + ")");
  }
  // Any user inside may connect (the payload may run under another uid).
  if (::chmod(spec.address.c_str(), 0777) != 0) throw_errno("chmod " + spec.address);
  if (::listen(fd.get(), SOMAXCONN) != 0) throw_errno("listen(" + describe(spec) + ")");
  return fd;
}

// An invalid fd when the listener is optional and its address family is unavailable.
UniqueFd make_tcp_listener(const ListenerSpec& spec) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  if (spec.address.find(':') != std::string::npos) {
    family = AF_INET6;
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(spec.port);
    if (::inet_pton(AF_INET6, spec.address.c_str(), &v6->sin6_addr) != 1) {
      throw SysError("listener " + describe(spec) + ": not an IPv6 address", EINVAL);
    }
    length = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(spec.port);
    if (::inet_pton(AF_INET, spec.address.c_str(), &v4->sin_addr) != 1) {
      throw SysError("listener " + describe(spec) + ": not an IPv4 address", EINVAL);
    }
    length = sizeof(sockaddr_in);
  }
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    if (spec.optional && errno == EAFNOSUPPORT) return {};
    throw_errno("socket() for " + describe(spec));
  }
  const int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    if (spec.optional && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) return {};
    throw_errno("bind(" + describe(spec) + ")");
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) throw_errno("listen(" + describe(spec) + ")");
  return fd;
}

// At most this many fds per message (the kernel's SCM_MAX_FD is 253).
constexpr std::size_t kFdsPerMessage = 64;

void send_batch(int socket, const std::vector<uint32_t>& indices, const std::vector<int>& fds) {
  iovec data{const_cast<uint32_t*>(indices.data()), indices.size() * sizeof(uint32_t)};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  ssize_t sent;
  do {
    sent = ::sendmsg(socket, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) throw_errno("sendmsg(listeners)");
}

}  // namespace

void add_listener_dirs(const std::vector<ListenerSpec>& specs, std::vector<MountRecord>& plan) {
  namespace fs = std::filesystem;
  auto host_path = [](const std::string& path) {
    std::error_code ignored;
    const fs::path canonical = fs::weakly_canonical(path, ignored);
    return canonical.empty() ? fs::path(path) : canonical;
  };
  auto under = [](const fs::path& path, const fs::path& dir) {
    auto p = path.begin();
    for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
      if (d->empty()) continue;  // a trailing slash
      if (p == path.end() || *p != *d) return false;
    }
    return true;
  };
  for (const ListenerSpec& spec : specs) {
    if (!spec.unix_socket) continue;
    const fs::path dir = host_path(fs::path(spec.address).parent_path());
    std::error_code error;
    if (dir == "/" || !fs::is_directory(dir, error)) continue;  // init's mkdir says why
    bool covered = false;
    auto last_tmpfs = plan.begin();
    for (auto it = plan.begin(); it != plan.end(); ++it) {
      const bool writable = it->kind == MountKind::Tmpfs || it->kind == MountKind::Overlay ||
                            (it->kind == MountKind::Bind && !it->read_only);
      if (writable && under(dir, host_path(it->target))) covered = true;
      if (it->kind == MountKind::Tmpfs) last_tmpfs = std::next(it);
    }
    if (covered) continue;
    if (last_tmpfs == plan.begin()) last_tmpfs = plan.end();
    plan.insert(last_tmpfs, {MountKind::Tmpfs, dir.string(), "", false, uint64_t{1} << 20, false});
  }
}

void hand_out_listeners(const std::vector<ListenerSpec>& specs, bool own_network, bool own_mounts,
                        int socket) {
  std::vector<uint32_t> indices;
  std::vector<UniqueFd> made;
  auto flush = [&] {
    if (made.empty()) return;
    std::vector<int> fds;
    for (const UniqueFd& fd : made) fds.push_back(fd.get());
    send_batch(socket, indices, fds);
    indices.clear();
    made.clear();
  };
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const ListenerSpec& spec = specs[i];
    if (spec.unix_socket ? !own_mounts : !own_network) continue;
    UniqueFd fd = spec.unix_socket ? make_unix_listener(spec) : make_tcp_listener(spec);
    if (!fd) continue;
    indices.push_back(static_cast<uint32_t>(i));
    made.push_back(std::move(fd));
    if (made.size() == kFdsPerMessage) flush();
  }
  flush();
}

std::vector<UniqueFd> receive_listeners(int socket, std::size_t count) {
  std::vector<UniqueFd> listeners(count);
  for (;;) {
    uint32_t indices[kFdsPerMessage];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdsPerMessage)];
    iovec data{indices, sizeof indices};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t got = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno("recvmsg(listeners)");
    if (got == 0) return listeners;  // init closed its end: everything was sent
    std::vector<int> fds;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t k = 0; k < n; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(header) + k * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
    std::vector<UniqueFd> owned;
    for (int fd : fds) owned.emplace_back(fd);
    const std::size_t n_indices = static_cast<std::size_t>(got) / sizeof(uint32_t);
    if ((message.msg_flags & MSG_CTRUNC) != 0 || n_indices != owned.size()) {
      throw SysError("recvmsg(listeners): a malformed message from the sandbox's init", EPROTO);
    }
    for (std::size_t k = 0; k < n_indices; ++k) {
      if (indices[k] >= count) throw SysError("recvmsg(listeners): index out of range", EPROTO);
      listeners[indices[k]] = std::move(owned[k]);
    }
  }
}

}  // namespace bulkhead::sandbox

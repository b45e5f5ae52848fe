// Parsing forward specs, planning listeners, resolving targets (see forward.h).
#include "src/services/forward.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <optional>

#include "sandbox/error.h"

namespace bulkhead::services {
namespace {

std::optional<uint16_t> parse_port(const std::string& text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

std::string unix_path(const std::string& text, const std::string& spec) {
  const std::string path = text.substr(5);
  if (path.empty() || path[0] != '/') {
    throw UserError("'" + spec + "': expected an absolute path after unix:, got '" + path + "'");
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    throw UserError("'" + spec + "': unix socket path longer than " +
                    std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes: " + path);
  }
  for (const auto& part : std::filesystem::path(path)) {
    if (part == "..") throw UserError("'" + spec + "': expected a path without '..': " + path);
  }
  return path;
}

Endpoint parse_inside(const std::string& text, const std::string& spec) {
  Endpoint inside;
  if (text.rfind("unix:", 0) == 0) {
    inside.unix_socket = true;
    inside.path = unix_path(text, spec);
    return inside;
  }
  auto port = parse_port(text);
  if (!port) {
    throw UserError("'" + spec + "': expected PORT (1-65535) or unix:PATH before '=', got '" +
                    text + "'");
  }
  inside.port = *port;
  return inside;
}

Endpoint parse_target(const std::string& text, const std::string& spec) {
  Endpoint target;
  if (text.rfind("unix:", 0) == 0) {
    target.unix_socket = true;
    target.path = unix_path(text, spec);
    return target;
  }
  const std::string expected =
      "'" + spec + "': expected PORT, HOST:PORT, [IPv6]:PORT or unix:PATH after '=', got '" + text +
      "'";
  if (auto port = parse_port(text)) {
    target.host = "localhost";
    target.port = *port;
    return target;
  }
  std::string host, port_text;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw UserError(expected);
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) throw UserError(expected);
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  auto port = parse_port(port_text);
  if (host.empty() || !port) throw UserError(expected);
  target.host = host;
  target.port = *port;
  return target;
}

}  // namespace

std::string Endpoint::text() const {
  if (unix_socket) return "unix:" + path;
  if (host.empty()) return std::to_string(port);
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Forward::text() const {
  const std::string from = inside.unix_socket ? inside.text()
                                              : "127.0.0.1:" + std::to_string(inside.port) +
                                                    ", [::1]:" + std::to_string(inside.port);
  return from + " -> " + target.text();
}

Forward parse_forward(const std::string& spec, const std::string& origin) {
  Forward forward;
  forward.origin = origin;
  const auto equals = spec.find('=');
  const std::string inside_text = spec.substr(0, equals);
  forward.inside = parse_inside(inside_text, spec);
  if (equals == std::string::npos) {
    forward.target = forward.inside;  // the same port on the host's loopback, the same path
    if (!forward.target.unix_socket) forward.target.host = "localhost";
  } else {
    forward.target = parse_target(spec.substr(equals + 1), spec);
  }
  return forward;
}

bool add_forward(std::vector<Forward>& list, Forward forward, bool yield_on_conflict) {
  for (const Forward& known : list) {
    if (!(known.inside == forward.inside)) continue;
    if (known.target == forward.target || yield_on_conflict) return false;
    throw UserError("forward " + forward.inside.text() +
                    " is given two targets: " + known.target.text() + " (" + known.origin +
                    ") and " + forward.target.text() + " (" + forward.origin + ")");
  }
  list.push_back(std::move(forward));
  return true;
}

ListenerPlan plan_listeners(const std::vector<Forward>& forwards) {
  ListenerPlan plan;
  for (std::size_t i = 0; i < forwards.size(); ++i) {
    const Endpoint& inside = forwards[i].inside;
    if (inside.unix_socket) {
      plan.specs.push_back({true, inside.path, 0, false});
      plan.forward_of.push_back(i);
      continue;
    }
    plan.specs.push_back({false, "127.0.0.1", inside.port, false});
    plan.forward_of.push_back(i);
    plan.specs.push_back({false, "::1", inside.port, true});  // absent without IPv6
    plan.forward_of.push_back(i);
  }
  return plan;
}

ResolvedTarget resolve_target(const Endpoint& target) {
  ResolvedTarget resolved;
  resolved.text = target.text();
  if (target.unix_socket) {
    sockaddr_storage storage{};
    auto* address = reinterpret_cast<sockaddr_un*>(&storage);
    address->sun_family = AF_UNIX;
    std::memcpy(address->sun_path, target.path.c_str(), target.path.size() + 1);
    resolved.addresses.push_back(storage);
    resolved.lengths.push_back(
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + target.path.size() + 1));
    return resolved;
  }
  auto add_ip = [&](int family, const char* ip) {
    sockaddr_storage storage{};
    if (family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
      v4->sin_family = AF_INET;
      v4->sin_port = htons(target.port);
      ::inet_pton(AF_INET, ip, &v4->sin_addr);
      resolved.lengths.push_back(sizeof(sockaddr_in));
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(target.port);
      ::inet_pton(AF_INET6, ip, &v6->sin6_addr);
      resolved.lengths.push_back(sizeof(sockaddr_in6));
    }
    resolved.addresses.push_back(storage);
  };
  // "localhost" is the host's loopback whatever /etc/hosts says: IPv4 first, then IPv6.
  if (target.host == "localhost") {
    add_ip(AF_INET, "127.0.0.1");
    add_ip(AF_INET6, "::1");
    return resolved;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(target.port);
  const int error = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found);
  if (error != 0) {
    throw UserError("forward target " + target.text() + ": cannot resolve '" + target.host +
                    "': " + ::gai_strerror(error));
  }
  for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    sockaddr_storage storage{};
    std::memcpy(&storage, entry->ai_addr, entry->ai_addrlen);
    resolved.addresses.push_back(storage);
    resolved.lengths.push_back(entry->ai_addrlen);
  }
  ::freeaddrinfo(found);
  return resolved;
}

}  // namespace bulkhead::services

// Forward specs: what a sandbox may reach on the host. `PORT`, `PORT=HOST:PORT`,
// `PORT=unix:PATH`, `unix:/inside/path=unix:PATH` (or `=PORT`, `=HOST:PORT`), and `unix:PATH`
// alone (the same path inside). Parsing, the listeners each forward needs inside a sandbox,
// and resolving targets to socket addresses once, before any connection.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace bulkhead::services {

struct Endpoint {
  bool unix_socket = false;
  std::string host;  // TCP target: "localhost", "127.0.0.1", "::1", a name; "" inside
  uint16_t port = 0;
  std::string path;          // unix
  std::string text() const;  // "5432", "[::1]:5432", "unix:/run/x.sock"
  bool operator==(const Endpoint&) const = default;
};

struct Forward {
  Endpoint inside;           // TCP: listens on 127.0.0.1:port and [::1]:port; unix: at path
  Endpoint target;           // reached from the host side
  std::string origin;        // "--forward", "profile", "auto: DATABASE_URL", ...
  std::string text() const;  // "127.0.0.1:5432, [::1]:5432 -> localhost:5432"
};

// Parses one spec ("auto" is the caller's). Throws UserError saying what was expected.
Forward parse_forward(const std::string& spec, const std::string& origin);

// Adds `forward` to `list` unless the same inside endpoint is there already: the same target
// is a duplicate (dropped); another target is a UserError naming both origins, unless
// `yield_on_conflict` (auto-detected forwards give way to declared ones). Returns whether added.
bool add_forward(std::vector<Forward>& list, Forward forward, bool yield_on_conflict = false);

// The listeners every sandbox needs for `forwards`, and for each the forward it serves.
struct ListenerPlan {
  std::vector<sandbox::ListenerSpec> specs;
  std::vector<std::size_t> forward_of;  // parallel to specs
};
ListenerPlan plan_listeners(const std::vector<Forward>& forwards);

// A target resolved to the addresses tried in order ("localhost": 127.0.0.1 then ::1).
struct ResolvedTarget {
  std::string text;
  std::vector<sockaddr_storage> addresses;
  std::vector<socklen_t> lengths;
};
// Throws UserError when a host name does not resolve or a path is too long.
ResolvedTarget resolve_target(const Endpoint& target);

}  // namespace bulkhead::services

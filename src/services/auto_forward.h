// `--forward auto`: the loopback services the environment points at. Reads DATABASE_URL and
// any *_URL / *_URI / *_DSN variable with a known scheme or an explicit port, PGHOST/PGPORT,
// MYSQL_HOST/MYSQL_TCP_PORT/MYSQL_UNIX_PORT and REDIS_HOST/REDIS_PORT. Loopback hosts become TCP
// forwards of the same port; unix socket locations (PGHOST=/dir, a postgres URL without a host,
// redis unix://) become unix forwards at the same path, when the socket exists on the host.
// Hosts elsewhere are not forwarded, and a note says so.
#pragma once

#include <string>
#include <vector>

#include "src/services/forward.h"

namespace bulkhead::services {

struct AutoForwards {
  std::vector<Forward> forwards;   // origin "auto: NAME"
  std::vector<std::string> notes;  // what was seen and not forwarded, one sentence each
};

// `envs`: the environment of every worker ("KEY=VALUE"); forwards found in any are kept once.
// `socket_exists` tells whether a unix socket path exists on the host (a test seam).
AutoForwards detect_forwards(const std::vector<std::vector<std::string>>& envs,
                             bool (*socket_exists)(const std::string& path) = nullptr);

}  // namespace bulkhead::services

// Reading service locations out of environment variables (see auto_forward.h).
#include "src/services/auto_forward.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>

namespace bulkhead::services {
namespace {

// Default ports of the schemes whose URLs name a service a test suite talks to.
const std::map<std::string, uint16_t>& default_ports() {
  static const std::map<std::string, uint16_t> ports = {
      {"postgres", 5432},   {"postgresql", 5432}, {"pgsql", 5432},      {"psql", 5432},
      {"mysql", 3306},      {"mariadb", 3306},    {"redis", 6379},      {"rediss", 6379},
      {"valkey", 6379},     {"amqp", 5672},       {"amqps", 5671},      {"mongodb", 27017},
      {"memcached", 11211}, {"nats", 4222},       {"clickhouse", 9000}, {"cassandra", 9042},
  };
  return ports;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "::1" ||
         host.rfind("127.", 0) == 0 || host == "ip6-localhost";
}

bool default_socket_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<uint16_t> port_of(const std::string& text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int value = std::stoi(text);
  if (value <= 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// Percent-decoding for the host part of a URL (postgresql://%2Fvar%2Frun%2Fpostgresql/db).
std::string percent_decode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(text[i + 1]) &&
        std::isxdigit(text[i + 2])) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

class Detector {
 public:
  explicit Detector(bool (*socket_exists)(const std::string&))
      : socket_exists_(socket_exists ? socket_exists : default_socket_exists) {}

  void scan(const std::vector<std::string>& env) {
    std::map<std::string, std::string> vars;
    for (const std::string& entry : env) {
      const auto equals = entry.find('=');
      if (equals != std::string::npos) vars[entry.substr(0, equals)] = entry.substr(equals + 1);
    }
    for (const auto& [name, value] : vars) {
      if (value.empty()) continue;
      if (ends_with(name, "_URL") || ends_with(name, "_URI") || ends_with(name, "_DSN") ||
          name == "DATABASE_URL") {
        url(name, value, vars);
      }
    }
    libpq(vars);
    mysql(vars);
    if (auto host = vars.find("REDIS_HOST"); host != vars.end()) {
      auto port = vars.count("REDIS_PORT") ? port_of(vars["REDIS_PORT"]) : uint16_t{6379};
      if (port) tcp("REDIS_HOST", host->second, *port);
    }
  }

  AutoForwards result() { return std::move(result_); }

 private:
  void add(const std::string& variable, Forward forward) {
    forward.origin = "auto: " + variable;
    add_forward(result_.forwards, std::move(forward), /*yield_on_conflict=*/true);
  }

  void note(const std::string& sentence) {
    if (std::find(result_.notes.begin(), result_.notes.end(), sentence) == result_.notes.end()) {
      result_.notes.push_back(sentence);
    }
  }

  void tcp(const std::string& variable, std::string host, uint16_t port) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (!is_loopback(host)) {
      note(variable + " points at " + host + ":" + std::to_string(port) +
           ", not at this machine's loopback: not forwarded (forward it explicitly, e.g. "
           "--forward " +
           std::to_string(port) + "=" + host + ":" + std::to_string(port) +
           ", and point the variable at localhost)");
      return;
    }
    Forward forward;
    forward.inside.port = port;
    forward.target.host = host == "::1" ? "::1" : host == "localhost" ? "localhost" : "127.0.0.1";
    if (host.rfind("127.", 0) == 0) forward.target.host = host;
    forward.target.port = port;
    add(variable, forward);
  }

  void unix_socket(const std::string& variable, const std::string& path) {
    if (!socket_exists_(path)) {
      note(variable + " points at the unix socket " + path +
           ", which does not exist on this machine: not forwarded");
      return;
    }
    Forward forward;
    forward.inside.unix_socket = forward.target.unix_socket = true;
    forward.inside.path = forward.target.path = path;
    add(variable, forward);
  }

  // libpq's socket: DIR/.s.PGSQL.PORT (Debian's default DIR: /var/run/postgresql).
  static std::string pg_socket(const std::string& dir, uint16_t port) {
    return (dir.empty() ? std::string("/var/run/postgresql") : dir) + "/.s.PGSQL." +
           std::to_string(port);
  }

  void url(const std::string& name, const std::string& value,
           const std::map<std::string, std::string>& vars) {
    const auto scheme_end = value.find("://");
    if (scheme_end == std::string::npos || scheme_end == 0) return;
    const std::string scheme = lower(value.substr(0, scheme_end));
    const std::string base = scheme.substr(0, scheme.find('+'));  // postgresql+psycopg
    const std::string rest = value.substr(scheme_end + 3);
    const auto netloc_end = rest.find_first_of("/?#");
    std::string netloc = rest.substr(0, netloc_end);
    const std::string after = netloc_end == std::string::npos ? "" : rest.substr(netloc_end);
    if (auto at = netloc.rfind('@'); at != std::string::npos) netloc = netloc.substr(at + 1);
    const bool postgres = base == "postgres" || base == "postgresql" || base == "pgsql";

    if (base == "unix" || scheme == "redis+socket" || scheme == "redis+unix") {
      const std::string path = after.substr(0, after.find_first_of("?#"));
      if (!path.empty() && path[0] == '/') unix_socket(name, path);
      return;
    }
    auto known = default_ports().find(base);
    if (netloc.empty()) {
      if (postgres) {
        // No host: libpq takes ?host=/dir, then PGHOST, then its default socket directory.
        std::string dir;
        if (auto query = after.find("host="); query != std::string::npos) {
          dir = percent_decode(after.substr(query + 5, after.find('&', query) - query - 5));
        } else if (auto pghost = vars.find("PGHOST");
                   pghost != vars.end() && !pghost->second.empty() && pghost->second[0] == '/') {
          dir = pghost->second;
        }
        if (!dir.empty() && dir[0] != '/') return tcp(name, dir, 5432);
        uint16_t port = 5432;
        if (auto pgport = vars.find("PGPORT"); pgport != vars.end()) {
          port = port_of(pgport->second).value_or(5432);
        }
        unix_socket(name, pg_socket(dir, port));
      }
      return;
    }
    // host[:port][,host[:port]...] (libpq's multi-host URLs)
    std::size_t start = 0;
    while (start <= netloc.size()) {
      auto comma = netloc.find(',', start);
      if (comma == std::string::npos) comma = netloc.size();
      std::string item = netloc.substr(start, comma - start);
      start = comma + 1;
      if (item.empty()) continue;
      std::string host = item;
      std::optional<uint16_t> port;
      const auto close = item.find(']');
      const auto colon = item.rfind(':');
      if (colon != std::string::npos && (close == std::string::npos || colon > close) &&
          (item[0] == '[' || item.find(':') == colon)) {
        host = item.substr(0, colon);
        port = port_of(item.substr(colon + 1));
        if (!port) continue;
      }
      host = percent_decode(host);
      if (postgres && !host.empty() && host[0] == '/') {
        unix_socket(name, pg_socket(host, port.value_or(5432)));
        continue;
      }
      if (!port && known != default_ports().end()) port = known->second;
      if (!port) continue;  // an unknown scheme without a port: not a service we can tell
      tcp(name, host, *port);
    }
  }

  void libpq(const std::map<std::string, std::string>& vars) {
    const auto host = vars.find("PGHOST");
    const auto port_var = vars.find("PGPORT");
    if (host == vars.end() && port_var == vars.end()) return;
    uint16_t port = 5432;
    if (port_var != vars.end()) port = port_of(port_var->second).value_or(5432);
    const std::string hosts = host == vars.end() ? "" : host->second;
    const std::string variable = host == vars.end() ? "PGPORT" : "PGHOST";
    if (hosts.empty()) return unix_socket(variable, pg_socket("", port));
    std::size_t start = 0;
    while (start <= hosts.size()) {
      auto comma = hosts.find(',', start);
      if (comma == std::string::npos) comma = hosts.size();
      const std::string item = hosts.substr(start, comma - start);
      start = comma + 1;
      if (item.empty()) continue;
      if (item[0] == '/') {
        unix_socket(variable, pg_socket(item, port));
      } else {
        tcp(variable, item, port);
      }
    }
  }

  void mysql(const std::map<std::string, std::string>& vars) {
    const auto host = vars.find("MYSQL_HOST");
    const auto port_var = vars.find("MYSQL_TCP_PORT");
    const auto socket = vars.find("MYSQL_UNIX_PORT");
    uint16_t port = 3306;
    if (port_var != vars.end()) port = port_of(port_var->second).value_or(3306);
    if (host != vars.end() && !host->second.empty()) tcp("MYSQL_HOST", host->second, port);
    if (socket != vars.end() && !socket->second.empty()) {
      unix_socket("MYSQL_UNIX_PORT", socket->second);
    } else if (host != vars.end() && host->second == "localhost" &&
               socket_exists_("/var/run/mysqld/mysqld.sock")) {
      // libmysqlclient takes "localhost" to mean its unix socket.
      unix_socket("MYSQL_HOST", "/var/run/mysqld/mysqld.sock");
    }
  }

  bool (*socket_exists_)(const std::string&);
  AutoForwards result_;
};

}  // namespace

AutoForwards detect_forwards(const std::vector<std::vector<std::string>>& envs,
                             bool (*socket_exists)(const std::string& path)) {
  Detector detector(socket_exists);
  for (const auto& env : envs) detector.scan(env);
  return detector.result();
}

}  // namespace bulkhead::services

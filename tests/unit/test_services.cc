// Unit tests for src/services: forward specs, `--forward auto`, $BULKHEAD_ENV lines.
#include <gtest/gtest.h>

#include "sandbox/error.h"
#include "src/services/auto_forward.h"
#include "src/services/forward.h"
#include "src/services/shell_commands.h"

namespace bulkhead::services {
namespace {

std::string error_of(const std::string& spec) {
  try {
    parse_forward(spec, "--forward");
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(ForwardSpec, PortAloneIsTheSamePortOnTheHostsLoopback) {
  const Forward forward = parse_forward("5432", "--forward");
  EXPECT_FALSE(forward.inside.unix_socket);
  EXPECT_EQ(forward.inside.port, 5432);
  EXPECT_EQ(forward.target.host, "localhost");
  EXPECT_EQ(forward.target.port, 5432);
  EXPECT_EQ(forward.text(), "127.0.0.1:5432, [::1]:5432 -> localhost:5432");
}

TEST(ForwardSpec, EveryKind) {
  EXPECT_EQ(parse_forward("5432=db.internal:6432", "x").target.text(), "db.internal:6432");
  EXPECT_EQ(parse_forward("5432=[::1]:6432", "x").target.text(), "[::1]:6432");
  EXPECT_EQ(parse_forward("5432=7000", "x").target.text(), "localhost:7000");
  const Forward to_unix = parse_forward("5432=unix:/run/postgresql/.s.PGSQL.5432", "x");
  EXPECT_TRUE(to_unix.target.unix_socket);
  EXPECT_EQ(to_unix.target.path, "/run/postgresql/.s.PGSQL.5432");
  const Forward inside_unix = parse_forward("unix:/run/a.sock=unix:/srv/b.sock", "x");
  EXPECT_TRUE(inside_unix.inside.unix_socket);
  EXPECT_EQ(inside_unix.inside.path, "/run/a.sock");
  EXPECT_EQ(inside_unix.target.path, "/srv/b.sock");
  EXPECT_EQ(inside_unix.text(), "unix:/run/a.sock -> unix:/srv/b.sock");
  const Forward same_path = parse_forward("unix:/run/redis.sock", "x");
  EXPECT_EQ(same_path.inside.path, "/run/redis.sock");
  EXPECT_EQ(same_path.target.path, "/run/redis.sock");
  EXPECT_EQ(parse_forward("unix:/run/a.sock=127.0.0.1:9", "x").target.text(), "127.0.0.1:9");
}

TEST(ForwardSpec, BadSpecsSayWhatWasExpected) {
  EXPECT_EQ(error_of("0"), "'0': expected PORT (1-65535) or unix:PATH before '=', got '0'");
  EXPECT_EQ(error_of("70000"),
            "'70000': expected PORT (1-65535) or unix:PATH before '=', got '70000'");
  EXPECT_EQ(error_of("db:5432"),
            "'db:5432': expected PORT (1-65535) or unix:PATH before '=', got 'db:5432'");
  EXPECT_EQ(error_of("5432=db"),
            "'5432=db': expected PORT, HOST:PORT, [IPv6]:PORT or unix:PATH after '=', got 'db'");
  EXPECT_EQ(error_of("5432=::1:5432"),
            "'5432=::1:5432': expected PORT, HOST:PORT, [IPv6]:PORT or unix:PATH after '=', "
            "got '::1:5432'");
  EXPECT_EQ(error_of("unix:relative.sock"),
            "'unix:relative.sock': expected an absolute path after unix:, got 'relative.sock'");
  EXPECT_EQ(error_of("unix:/a/../b.sock"),
            "'unix:/a/../b.sock': expected a path without '..': /a/../b.sock");
  EXPECT_NE(error_of("unix:/" + std::string(120, 'x')).find("longer than 107 bytes"),
            std::string::npos);
}

TEST(ForwardSpec, TheSameInsideEndpointTwice) {
  std::vector<Forward> list;
  EXPECT_TRUE(add_forward(list, parse_forward("5432", "--forward")));
  EXPECT_FALSE(add_forward(list, parse_forward("5432=localhost:5432", "profile")));
  EXPECT_FALSE(add_forward(list, parse_forward("5432=db:1", "auto: X"), true));
  try {
    add_forward(list, parse_forward("5432=db:1", "profile"));
    FAIL() << "a conflict must be refused";
  } catch (const UserError& error) {
    EXPECT_STREQ(error.what(),
                 "forward 5432 is given two targets: localhost:5432 (--forward) and db:1 "
                 "(profile)");
  }
  EXPECT_EQ(list.size(), 1u);
}

TEST(ForwardSpec, ListenersPerForward) {
  const std::vector<Forward> forwards = {parse_forward("5432", "x"),
                                         parse_forward("unix:/run/a.sock=unix:/b", "x")};
  const ListenerPlan plan = plan_listeners(forwards);
  ASSERT_EQ(plan.specs.size(), 3u);
  EXPECT_EQ(plan.specs[0].address, "127.0.0.1");
  EXPECT_FALSE(plan.specs[0].optional);
  EXPECT_EQ(plan.specs[1].address, "::1");
  EXPECT_TRUE(plan.specs[1].optional);  // hosts without IPv6 still get the IPv4 one
  EXPECT_TRUE(plan.specs[2].unix_socket);
  EXPECT_EQ(plan.forward_of, (std::vector<std::size_t>{0, 0, 1}));
}

TEST(ForwardSpec, ResolvingTargets) {
  EXPECT_EQ(resolve_target(parse_forward("5432", "x").target).addresses.size(), 2u);
  const ResolvedTarget v6 = resolve_target(parse_forward("1=[::1]:5432", "x").target);
  ASSERT_EQ(v6.addresses.size(), 1u);
  EXPECT_EQ(v6.addresses[0].ss_family, AF_INET6);
}

bool sockets_exist(const std::string& path) {
  return path == "/var/run/postgresql/.s.PGSQL.5432" || path == "/tmp/pg/.s.PGSQL.6000" ||
         path == "/run/redis/redis.sock";
}

std::vector<std::string> texts(const AutoForwards& found) {
  std::vector<std::string> out;
  for (const Forward& forward : found.forwards) {
    out.push_back(forward.inside.text() + "=" + forward.target.text() + " (" + forward.origin +
                  ")");
  }
  return out;
}

TEST(AutoForward, GithubActionsServices) {
  const AutoForwards found =
      detect_forwards({{"DATABASE_URL=postgresql://postgres:postgres@localhost:5432/app",
                        "REDIS_URL=redis://localhost:6379/0", "HOME=/root", "PATH=/usr/bin"}},
                      sockets_exist);
  EXPECT_EQ(texts(found), (std::vector<std::string>{"5432=localhost:5432 (auto: DATABASE_URL)",
                                                    "6379=localhost:6379 (auto: REDIS_URL)"}));
  EXPECT_TRUE(found.notes.empty());
}

TEST(AutoForward, SchemesPortsAndHosts) {
  const AutoForwards found = detect_forwards(
      {{"A_URL=postgresql+psycopg://u@127.0.0.1/app", "B_DSN=mysql://root@[::1]/x",
        "C_URI=http://localhost:8080/api", "D_URL=http://localhost/api",
        "E_URL=redis://db.internal:6379", "F_URL=amqp://guest:guest@localhost//",
        "G_URL=postgresql://h1:5432,localhost:5433/x", "NOT_A_URL_VAR=redis://localhost:1"}},
      sockets_exist);
  EXPECT_EQ(texts(found),
            (std::vector<std::string>{
                "5432=127.0.0.1:5432 (auto: A_URL)", "3306=[::1]:3306 (auto: B_DSN)",
                "8080=localhost:8080 (auto: C_URI)", "5672=localhost:5672 (auto: F_URL)",
                "5433=localhost:5433 (auto: G_URL)"}));
  ASSERT_EQ(found.notes.size(), 2u);
  EXPECT_EQ(found.notes[0],
            "E_URL points at db.internal:6379, not at this machine's loopback: not forwarded "
            "(forward it explicitly, e.g. --forward 6379=db.internal:6379, and point the "
            "variable at localhost)");
  EXPECT_NE(found.notes[1].find("G_URL points at h1:5432"), std::string::npos);
}

TEST(AutoForward, UnixSockets) {
  const AutoForwards found = detect_forwards(
      {{"DATABASE_URL=postgresql:///app_gw0", "PGHOST=/tmp/pg", "PGPORT=6000",
        "REDIS_URL=unix:///run/redis/redis.sock?db=1", "CACHE_URL=redis+socket:///nope.sock"}},
      sockets_exist);
  EXPECT_EQ(texts(found),
            (std::vector<std::string>{
                "unix:/tmp/pg/.s.PGSQL.6000=unix:/tmp/pg/.s.PGSQL.6000 (auto: DATABASE_URL)",
                "unix:/run/redis/redis.sock=unix:/run/redis/redis.sock (auto: REDIS_URL)"}));
  EXPECT_EQ(found.notes, (std::vector<std::string>{
                             "CACHE_URL points at the unix socket /nope.sock, which does not "
                             "exist on this machine: not forwarded"}));
  const AutoForwards debian_default =
      detect_forwards({{"DATABASE_URL=postgresql:///app"}}, sockets_exist);
  EXPECT_EQ(texts(debian_default),
            (std::vector<std::string>{"unix:/var/run/postgresql/.s.PGSQL.5432=unix:/var/run/"
                                      "postgresql/.s.PGSQL.5432 (auto: DATABASE_URL)"}));
}

TEST(AutoForward, ServiceVariablesAndEveryWorker) {
  const AutoForwards found = detect_forwards(
      {{"PGHOST=localhost", "PGPORT=5433", "MYSQL_HOST=127.0.0.1", "REDIS_HOST=localhost"},
       {"PGHOST=localhost", "PGPORT=5433", "MYSQL_HOST=127.0.0.1", "MYSQL_TCP_PORT=3307",
        "REDIS_HOST=localhost", "REDIS_PORT=6380"}},
      sockets_exist);
  EXPECT_EQ(texts(found),
            (std::vector<std::string>{
                "5433=localhost:5433 (auto: PGHOST)", "3306=127.0.0.1:3306 (auto: MYSQL_HOST)",
                "6379=localhost:6379 (auto: REDIS_HOST)", "3307=127.0.0.1:3307 (auto: MYSQL_HOST)",
                "6380=localhost:6380 (auto: REDIS_HOST)"}));
}

TEST(EnvLines, KeyValueLines) {
  const auto lines = parse_env_lines("A=1\n\n# comment\nB=x=y\r\nEMPTY=\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], (std::pair<std::string, std::string>{"B", "x=y"}));
  EXPECT_EQ(lines[2].second, "");
  try {
    parse_env_lines("A=1\nexport B=2\n");
    FAIL();
  } catch (const UserError& error) {
    EXPECT_STREQ(error.what(),
                 "line 2 'export B=2': expected KEY=VALUE with KEY made of letters, digits and _");
  }
  EXPECT_THROW(parse_env_lines("BULKHEAD_WORKER=gw9\n"), UserError);
  EXPECT_THROW(parse_env_lines("PYTEST_XDIST_WORKER=gw9\n"), UserError);
  EXPECT_THROW(parse_env_lines("novalue\n"), UserError);
}

}  // namespace
}  // namespace bulkhead::services

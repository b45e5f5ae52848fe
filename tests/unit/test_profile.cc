// Unit tests for sandbox/profile.cc: the shipped profiles, `extends` merging, every class of
// bad input (exact file, JSON path and message), sizes, durations and env templates.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "sandbox/profile.h"

namespace bulkhead::sandbox {
namespace {

namespace fs = std::filesystem;

const std::string kProfilesDir = std::string(BULKHEAD_SOURCE_DIR) + "/profiles";

// A temporary directory of profile files, removed at the end of each test.
class ProfileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "bulkhead-profile-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = fs::path(dir_) / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  // Loads `text` as NAME.json and returns the ProfileError's message ("" when it loads).
  std::string error_of(const std::string& text, const std::string& name = "p.json") {
    const std::string path = write(name, text);
    try {
      load_profile(path, {dir_, kProfilesDir});
    } catch (const ProfileError& e) {
      EXPECT_EQ(e.file(), path);
      return std::string(e.what()).substr(path.size() + 2);  // drop "FILE: "
    }
    return "";
  }

  std::string dir_;
};

TEST(ShippedProfiles, DefaultLoadsWithDocumentedValues) {
  const Profile p = load_profile("default", {kProfilesDir});
  EXPECT_EQ(p.name, "default");
  EXPECT_EQ(p.source_path, kProfilesDir + "/default.json");
  EXPECT_EQ(p.limits.memory_bytes, 4ULL << 30);
  EXPECT_FALSE(p.limits.cpus.has_value());
  EXPECT_EQ(p.limits.pids, 1024U);
  EXPECT_EQ(p.limits.nofile, 8192U);
  EXPECT_EQ(p.limits.test_timeout_s, 900.0);
  EXPECT_FALSE(p.limits.worker_timeout_s.has_value());
  EXPECT_EQ(p.limits.rlimits.at("core"), 0U);
  EXPECT_EQ(p.mounts.tmpfs,
            (std::vector<std::string>{"/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run"}));
  EXPECT_EQ(p.mounts.tmpfs_size_bytes, 2ULL << 30);
  EXPECT_TRUE(p.mounts.overlay_home);
  EXPECT_TRUE(p.mounts.overlay_project);
  EXPECT_EQ(p.network, "none");
  EXPECT_EQ(p.seccomp.default_action, "allow");
  EXPECT_EQ(p.seccomp.deny_action, "errno");
  EXPECT_EQ(p.seccomp.deny_errno, 1);
  EXPECT_EQ(p.seccomp.deny.size(), 44U);
  for (const char* name : {"mount", "ptrace", "bpf", "unshare", "setns", "name_to_handle_at",
                           "io_uring_setup", "io_uring_enter", "io_uring_register", "chroot"}) {
    EXPECT_NE(std::find(p.seccomp.deny.begin(), p.seccomp.deny.end(), name), p.seccomp.deny.end())
        << name;
  }
  EXPECT_TRUE(p.seccomp.deny_namespace_clone);
  EXPECT_TRUE(p.keep_caps.empty());
  EXPECT_TRUE(p.env.empty());
  EXPECT_FALSE(p.require_isolation);
  EXPECT_EQ(p.user.kind, UserPolicy::Kind::Root);
  for (const char* path :
       {"/etc/shadow", "/etc/gshadow", "/etc/ssh/ssh_host_*_key", "~/.ssh", "~/.aws", "~/.netrc",
        "~/.pypirc", "~/.docker/config.json", "~/.config/gh"}) {
    EXPECT_NE(std::find(p.mounts.mask.begin(), p.mounts.mask.end(), path), p.mounts.mask.end())
        << path;
  }
}

TEST(ShippedProfiles, StrictExtendsDefault) {
  const Profile p = load_profile("strict", {kProfilesDir});
  EXPECT_EQ(p.name, "strict");
  EXPECT_EQ(p.limits.memory_bytes, 2ULL << 30);
  EXPECT_EQ(p.limits.pids, 256U);
  EXPECT_EQ(p.limits.nofile, 1024U);
  EXPECT_EQ(p.limits.test_timeout_s, 300.0);
  EXPECT_EQ(p.limits.worker_timeout_s, 3600.0);
  EXPECT_EQ(p.limits.rlimits.at("core"), 0U);  // inherited
  EXPECT_EQ(p.mounts.tmpfs_size_bytes, 512ULL << 20);
  EXPECT_EQ(p.mounts.tmpfs.size(), 5U);   // inherited
  EXPECT_EQ(p.seccomp.deny.size(), 50U);  // default's 44 + 6 added
  EXPECT_EQ(p.user.kind, UserPolicy::Kind::Unprivileged);
  EXPECT_EQ(p.user.uid, 1000U);
  EXPECT_EQ(p.seccomp.deny.front(), "init_module");
  EXPECT_EQ(p.seccomp.deny.back(), "personality");
  EXPECT_TRUE(p.require_isolation);
  EXPECT_NE(std::find(p.env_unset.begin(), p.env_unset.end(), "SSH_AUTH_SOCK"), p.env_unset.end());
}

TEST(ShippedProfiles, PermissiveExtendsDefault) {
  const Profile p = load_profile("permissive", {kProfilesDir});
  EXPECT_EQ(p.limits.memory_bytes, 16ULL << 30);
  EXPECT_EQ(p.limits.pids, 8192U);
  EXPECT_EQ(p.limits.nofile, 65536U);
  EXPECT_FALSE(p.limits.test_timeout_s.has_value());  // null clears the default's 15m
  EXPECT_FALSE(p.mounts.tmpfs_size_bytes.has_value());
  EXPECT_EQ(p.seccomp.deny.size(), 13U);
  EXPECT_EQ(std::find(p.seccomp.deny.begin(), p.seccomp.deny.end(), "ptrace"),
            p.seccomp.deny.end());
  EXPECT_FALSE(p.seccomp.deny_namespace_clone);
  EXPECT_FALSE(p.require_isolation);
}

TEST(ShippedProfiles, ByPathAndDemoProfile) {
  const Profile p = load_profile(kProfilesDir + "/strict.json", {kProfilesDir});
  EXPECT_EQ(p.name, "strict");
  const std::string demo = std::string(BULKHEAD_SOURCE_DIR) + "/examples/collisions/demo.json";
  const Profile d = load_profile(demo, {kProfilesDir});
  EXPECT_EQ(d.name, "demo");
  EXPECT_EQ(d.env.at("DATABASE_URL"), "sqlite:///demo_{worker}.db");
  EXPECT_EQ(d.limits.memory_bytes, 4ULL << 30);
}

TEST_F(ProfileFiles, ExtendsMergesFieldByField) {
  write("base.json", R"({
    "limits": {"memory": "1G", "pids": 100, "rlimits": {"core": 0, "stack": "8M"}},
    "mounts": {"tmpfs": ["/tmp"], "binds": [{"source": "/opt/data", "read_only": true}]},
    "seccomp": {"deny": ["mount", "ptrace", "bpf"]},
    "env": {"A": "a", "B": "b", "C": "c"},
    "env_unset": ["X"]
  })");
  const std::string child = write("sub/child.json", R"({
    // comments are allowed
    "extends": "../base.json",
    "limits": {"memory": "2G", "rlimits": {"stack": "unlimited"}},
    "mounts": {"overlay_home": false},
    "seccomp": {"deny_remove": ["ptrace"], "deny_add": ["reboot", "mount"]},
    "env": {"B": "bb", "C": null, "D": "db_{worker}"},
    "capabilities": {"keep": ["cap_net_bind_service"]}
  })");
  const Profile p = load_profile(child, {});
  EXPECT_EQ(p.name, "child");
  EXPECT_EQ(p.source_path, child);
  EXPECT_EQ(p.limits.memory_bytes, 2ULL << 30);
  EXPECT_EQ(p.limits.pids, 100U);
  EXPECT_EQ(p.limits.rlimits.at("core"), 0U);
  EXPECT_EQ(p.limits.rlimits.at("stack"), UINT64_MAX);
  EXPECT_EQ(p.mounts.tmpfs, std::vector<std::string>{"/tmp"});
  ASSERT_EQ(p.mounts.binds.size(), 1U);
  EXPECT_EQ(p.mounts.binds[0].target, "/opt/data");
  EXPECT_TRUE(p.mounts.binds[0].read_only);
  EXPECT_FALSE(p.mounts.overlay_home);
  EXPECT_TRUE(p.mounts.overlay_project);
  EXPECT_EQ(p.seccomp.deny, (std::vector<std::string>{"mount", "bpf", "reboot"}));
  EXPECT_EQ(p.env,
            (std::map<std::string, std::string>{{"A", "a"}, {"B", "bb"}, {"D", "db_{worker}"}}));
  EXPECT_EQ(p.env_unset, std::vector<std::string>{"X"});
  EXPECT_EQ(p.keep_caps, std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
}

TEST_F(ProfileFiles, ExtendsByNameSearchesDirsInOrder) {
  write("default.json", R"({"limits": {"pids": 7}})");  // shadows the shipped default
  const std::string child = write("c.json", R"({"extends": "default"})");
  EXPECT_EQ(load_profile(child, {dir_, kProfilesDir}).limits.pids, 7U);
  EXPECT_EQ(load_profile(child, {kProfilesDir, dir_}).limits.pids, 1024U);
  EXPECT_EQ(load_profile("c", {dir_}).name, "c");
}

TEST_F(ProfileFiles, TextParsesAsTheFileLoads) {
  const std::string text = R"({"extends": "default", "limits": {"pids": 7}})";
  const std::string path = write("t.json", text);
  const Profile from_file = load_profile(path, {kProfilesDir});
  const Profile from_text = parse_profile(text, path, {kProfilesDir});
  EXPECT_EQ(from_text.name, "t");
  EXPECT_EQ(from_text.source_path, path);
  EXPECT_EQ(from_text.limits.pids, from_file.limits.pids);
  EXPECT_EQ(from_text.limits.memory_bytes, from_file.limits.memory_bytes);
  EXPECT_EQ(from_text.seccomp.deny, from_file.seccomp.deny);
  try {
    parse_profile("{\n  \"limits\": {\"pids\": true}\n}", "mem.json", {});
    FAIL();
  } catch (const ProfileError& e) {
    EXPECT_EQ(e.file(), "mem.json");
    EXPECT_EQ(e.json_path(), "$.limits.pids");
  }
  EXPECT_THROW(parse_profile("{", "mem.json", {}), ProfileError);
}

TEST_F(ProfileFiles, NumberOverflowIsAProfileError) {
  // Regression (found by fuzz_profile): nlohmann throws out_of_range, not parse_error, for a
  // number beyond a double; it escaped as a bare library message without the file.
  EXPECT_EQ(error_of(R"({"limits": {"pids": 174E1774}})"),
            "$: invalid JSON: number overflow parsing '174E1774'");
}

TEST_F(ProfileFiles, ExtendsCycleIsRefused) {
  const std::string a = write("a.json", R"({"extends": "b.json"})");
  const std::string b = write("b.json", R"({"extends": "./a.json"})");
  try {
    load_profile(a, {});
    FAIL() << "cycle not detected";
  } catch (const ProfileError& e) {
    EXPECT_EQ(e.file(), b);
    EXPECT_EQ(e.json_path(), "$.extends");
    EXPECT_EQ(std::string(e.what()), b + ": $.extends: extends cycle: " + a + " -> " + dir_ +
                                         "/b.json -> " + dir_ + "/./a.json");
  }
  EXPECT_EQ(error_of(R"({"extends": "self"})", "self.json"),
            "$.extends: extends cycle: " + dir_ + "/self.json -> " + dir_ + "/self.json");
}

TEST_F(ProfileFiles, MissingProfiles) {
  try {
    load_profile("nosuch", {kProfilesDir});
    FAIL();
  } catch (const ProfileError& e) {
    EXPECT_EQ(std::string(e.what()),
              "nosuch: $: no profile named \"nosuch\" (looked for "
              "nosuch.json in " +
                  kProfilesDir + ")");
  }
  try {
    load_profile(dir_ + "/none.json", {});
    FAIL();
  } catch (const ProfileError& e) {
    EXPECT_EQ(std::string(e.what()), dir_ + "/none.json: $: no such profile file");
  }
  EXPECT_EQ(error_of(R"({"extends": "nosuch"})"),
            "$.extends: no profile named \"nosuch\" (looked for nosuch.json in " + dir_ + ", " +
                kProfilesDir + ")");
  EXPECT_EQ(error_of(R"({"extends": "x/none.json"})"),
            "$.extends: no such profile file: " + dir_ + "/x/none.json");
  EXPECT_EQ(error_of(R"({"extends": 3})"), "$.extends: expected a string, got 3");
}

TEST_F(ProfileFiles, ErrorInParentNamesParentFile) {
  const std::string parent = write("parent.json", R"({"limits": {"pids": -1}})");
  const std::string child = write("child.json", R"({"extends": "parent.json"})");
  try {
    load_profile(child, {});
    FAIL();
  } catch (const ProfileError& e) {
    EXPECT_EQ(e.file(), parent);
    EXPECT_EQ(e.json_path(), "$.limits.pids");
  }
}

TEST_F(ProfileFiles, JsonSyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("{\n  \"limits\": {\n    \"memory\": \"1G\",\n  }\n}"),
            "$: invalid JSON at line 4, column 3: syntax error while parsing object key - "
            "unexpected '}'; expected string literal");
  EXPECT_EQ(error_of("{\"network\": \"none\""),
            "$: invalid JSON at line 1, column 19: syntax error while parsing object - unexpected "
            "end of input; expected '}'");
  EXPECT_EQ(error_of("[1, 2]"), "$: expected an object, got an array");
}

TEST_F(ProfileFiles, UnknownKeysAreErrors) {
  EXPECT_EQ(error_of(R"({"limits": {"memroy": "1G"}})"),
            "$.limits.memroy: unknown key (did you mean \"memory\"?); expected one of: cpus, "
            "memory, nofile, pids, rlimits, test_timeout, worker_timeout");
  EXPECT_EQ(error_of(R"({"netwrok": "none"})"),
            "$.netwrok: unknown key (did you mean \"network\"?); expected one of: capabilities, "
            "description, env, env_unset, extends, limits, mounts, network, require_isolation, "
            "seccomp, services, user");
  EXPECT_EQ(error_of(R"({"mounts": {"binds": [{"source": "/a", "readonly": true}]}})"),
            "$.mounts.binds[0].readonly: unknown key (did you mean \"read_only\"?); expected one "
            "of: read_only, source, target");
  EXPECT_EQ(error_of(R"({"zzz top": 1})"),
            "$[\"zzz top\"]: unknown key; expected one of: capabilities, description, env, "
            "env_unset, extends, limits, mounts, network, require_isolation, seccomp, services, "
            "user");
}

TEST_F(ProfileFiles, UserAndMasks) {
  const std::string file = write("u.json", R"({"user": 1000, "mounts": {"mask": [
    "/etc/shadow", "~/.ssh", "/etc/ssh/ssh_host_*_key"]}})");
  const Profile p = load_profile(file, {});
  EXPECT_EQ(p.user.kind, UserPolicy::Kind::Unprivileged);
  EXPECT_EQ(p.user.uid, 1000U);
  EXPECT_EQ(p.mounts.mask,
            (std::vector<std::string>{"/etc/shadow", "~/.ssh", "/etc/ssh/ssh_host_*_key"}));
  EXPECT_EQ(load_profile(write("h.json", R"({"user": "host"})"), {}).user.kind,
            UserPolicy::Kind::Host);
  EXPECT_EQ(error_of(R"({"user": "nobody"})"),
            "$.user: expected \"root\", \"host\" or a uid from 1 to 65535, got \"nobody\"");
  EXPECT_EQ(error_of(R"({"user": 0})"),
            "$.user: expected \"root\", \"host\" or a uid from 1 to 65535, got 0");
  EXPECT_EQ(error_of(R"({"user": 65536})"),
            "$.user: expected \"root\", \"host\" or a uid from 1 to 65535, got 65536");
  EXPECT_EQ(error_of(R"({"mounts": {"mask": ["etc/shadow"]}})"),
            "$.mounts.mask[0]: expected an absolute path, got \"etc/shadow\"");
  EXPECT_EQ(error_of(R"({"mounts": {"mask": ["~/../x"]}})"),
            "$.mounts.mask[0]: expected a path without \"..\", got \"~/../x\"");
  EXPECT_EQ(error_of(R"({"mounts": {"mask": ["/etc/*/key"]}})"),
            "$.mounts.mask[0]: expected wildcards only in the last part of the path, got "
            "\"/etc/*/key\"");
}

TEST_F(ProfileFiles, BadLimits) {
  EXPECT_EQ(error_of(R"({"limits": {"memory": true}})"),
            "$.limits.memory: expected a size like \"512M\" or a byte count, got true");
  EXPECT_EQ(error_of(R"({"limits": {"memory": "12 parsecs"}})"),
            "$.limits.memory: expected a size like \"512M\" or a byte count, got \"12 parsecs\"");
  EXPECT_EQ(error_of(R"({"limits": {"memory": 0}})"),
            "$.limits.memory: expected a size above zero (use null for no limit), got 0");
  EXPECT_EQ(error_of(R"({"limits": {"cpus": "2"}})"),
            "$.limits.cpus: expected a number of CPU cores above zero like 2 or 1.5 (or null for "
            "no limit), got \"2\"");
  EXPECT_EQ(error_of(R"({"limits": {"pids": 1.5}})"),
            "$.limits.pids: expected a whole number of at least 1 (or null for no limit), got 1.5");
  EXPECT_EQ(
      error_of(R"({"limits": {"nofile": 3}})"),
      "$.limits.nofile: expected a whole number of at least 16 (or null for no limit), got 3");
  EXPECT_EQ(error_of(R"({"limits": {"test_timeout": "soon"}})"),
            "$.limits.test_timeout: expected a duration like \"300s\", \"500ms\", \"2m\" or a "
            "number of seconds, got \"soon\"");
  EXPECT_EQ(error_of(R"({"limits": {"worker_timeout": 0}})"),
            "$.limits.worker_timeout: expected a duration above zero (use null for no limit), "
            "got 0");
  EXPECT_EQ(error_of(R"({"limits": {"rlimits": {"cores": 0}}})"),
            "$.limits.rlimits.cores: unknown rlimit; expected one of: as, core, cpu, data, fsize, "
            "locks, memlock, msgqueue, nice, nproc, rss, rtprio, rttime, sigpending, stack");
  EXPECT_EQ(error_of(R"({"limits": {"rlimits": {"nofile": 10}}})"),
            "$.limits.rlimits.nofile: set the open-file limit with $.limits.nofile");
  EXPECT_EQ(error_of(R"({"limits": {"rlimits": {"cpu": "1G"}}})"),
            "$.limits.rlimits.cpu: expected a whole number or \"unlimited\", got \"1G\"");
  EXPECT_EQ(error_of(R"({"limits": {"rlimits": {"stack": "big"}}})"),
            "$.limits.rlimits.stack: expected a size like \"8M\", a byte count or \"unlimited\", "
            "got \"big\"");
  EXPECT_EQ(error_of(R"({"limits": []})"), "$.limits: expected an object, got an array");
}

TEST_F(ProfileFiles, BadMounts) {
  EXPECT_EQ(error_of(R"({"mounts": {"tmpfs": ["/tmp", "scratch"]}})"),
            "$.mounts.tmpfs[1]: expected an absolute path, got \"scratch\"");
  EXPECT_EQ(error_of(R"({"mounts": {"tmpfs": "/tmp"}})"),
            "$.mounts.tmpfs: expected an array of absolute paths, got \"/tmp\"");
  EXPECT_EQ(error_of(R"({"mounts": {"binds": [{"source": "~/data"}]}})"),
            "$.mounts.binds[0].source: expected an absolute path, got \"~/data\"");
  EXPECT_EQ(error_of(R"({"mounts": {"binds": [{"source": "/a/../etc"}]}})"),
            "$.mounts.binds[0].source: expected a path without \"..\", got \"/a/../etc\"");
  EXPECT_EQ(error_of(R"({"mounts": {"binds": [{"target": "/a"}]}})"),
            "$.mounts.binds[0]: missing \"source\" (an absolute path)");
  EXPECT_EQ(error_of(R"({"mounts": {"binds": [{"source": "/a", "read_only": "yes"}]}})"),
            "$.mounts.binds[0].read_only: expected true or false, got \"yes\"");
  EXPECT_EQ(error_of(R"({"mounts": {"overlay_home": 1}})"),
            "$.mounts.overlay_home: expected true or false, got 1");
  EXPECT_EQ(error_of(R"({"mounts": {"tmpfs_size": "1X"}})"),
            "$.mounts.tmpfs_size: expected a size like \"512M\" or a byte count, got \"1X\"");
}

TEST_F(ProfileFiles, BadSeccompAndCapabilities) {
  EXPECT_EQ(error_of(R"({"seccomp": {"deny": ["mount", "mout"]}})"),
            "$.seccomp.deny[1]: unknown syscall \"mout\" (libseccomp does not know it on this "
            "architecture)");
  EXPECT_EQ(error_of(R"({"seccomp": {"deny_add": [42]}})"),
            "$.seccomp.deny_add[0]: expected syscall names as a string, got 42");
  EXPECT_EQ(error_of(R"({"seccomp": {"default_action": "deny"}})"),
            "$.seccomp.default_action: expected one of \"allow\", \"errno\", \"kill\", \"log\", "
            "got \"deny\"");
  EXPECT_EQ(error_of(R"({"seccomp": {"deny_action": "allow"}})"),
            "$.seccomp.deny_action: expected one of \"errno\", \"kill\", \"log\", got \"allow\"");
  EXPECT_EQ(error_of(R"({"seccomp": {"deny_errno": "EWHAT"}})"),
            "$.seccomp.deny_errno: expected an errno name (EPERM, ENOENT, ESRCH, EIO, EAGAIN, "
            "ENOMEM, EACCES, EFAULT, EBUSY, EEXIST, ENODEV, EINVAL, EROFS, ENOSYS, EOPNOTSUPP) or "
            "a number from 1 to 4095, got \"EWHAT\"");
  EXPECT_EQ(error_of(R"({"capabilities": {"keep": ["CAP_NET_BIND"]}})"),
            "$.capabilities.keep[0]: unknown capability \"CAP_NET_BIND\" (expected a name like "
            "\"CAP_NET_BIND_SERVICE\")");
  EXPECT_EQ(error_of(R"({"capabilities": {"keep": ["12"]}})"),
            "$.capabilities.keep[0]: unknown capability \"12\" (expected a name like "
            "\"CAP_NET_BIND_SERVICE\")");
  EXPECT_EQ(error_of(R"({"network": "host"})"),
            "$.network: expected \"none\" (a private network with only loopback), got \"host\"");

  const std::string ok = write("ok.json", R"({"seccomp": {"deny_errno": 38, "deny": []}})");
  const Profile p = load_profile(ok, {});
  EXPECT_EQ(p.seccomp.deny_errno, 38);
  EXPECT_TRUE(p.seccomp.deny.empty());
  const std::string named = write("named.json", R"({"seccomp": {"deny_errno": "ENOSYS"}})");
  EXPECT_EQ(load_profile(named, {}).seccomp.deny_errno, 38);
}

TEST_F(ProfileFiles, BadEnv) {
  EXPECT_EQ(error_of(R"({"env": {"DB": 5}})"),
            "$.env.DB: expected a string (or null to drop it), got 5");
  EXPECT_EQ(error_of(R"({"env": {"BAD NAME": "x"}})"),
            "$.env[\"BAD NAME\"]: expected an environment variable name (letters, digits, _), "
            "got \"BAD NAME\"");
  EXPECT_EQ(error_of(R"({"env": {"DB": "app_{workr}"}})"),
            "$.env.DB: unknown placeholder {workr}; expected {worker}, {worker_index}, "
            "{worker_count}, {run_id} (write {{ and }} for literal braces)");
  EXPECT_EQ(error_of(R"({"env_unset": ["OK", "NOT-OK"]})"),
            "$.env_unset[1]: expected an environment variable name (letters, digits, _), got "
            "\"NOT-OK\"");
  EXPECT_EQ(error_of(R"({"require_isolation": "yes"})"),
            "$.require_isolation: expected true or false, got \"yes\"");
  // Literal braces and JSON-looking values are not placeholders.
  EXPECT_EQ(error_of(R"({"env": {"J": "{\"a\": 1} {{x}} {worker_index}"}})"), "");
}

TEST(ParseSize, Accepts) {
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("1048576"), 1048576U);
  EXPECT_EQ(parse_size("512M"), 512ULL << 20);
  EXPECT_EQ(parse_size("512m"), 512ULL << 20);
  EXPECT_EQ(parse_size("1G"), 1ULL << 30);
  EXPECT_EQ(parse_size("1.5G"), 3ULL << 29);
  EXPECT_EQ(parse_size("64KiB"), 64ULL << 10);
  EXPECT_EQ(parse_size("2Tb"), 2ULL << 40);
  EXPECT_EQ(parse_size("100B"), 100U);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, Rejects) {
  for (const char* bad : {"", "M", "-1", "1.5", "1 G", " 1G", "1G ", "1X", "1GG", "1.G", ".5G",
                          "1e9", "18446744073709551616", "99999999999T", "0x10"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

TEST(ParseDuration, AcceptsAndRejects) {
  EXPECT_EQ(parse_duration_s("10"), 10.0);
  EXPECT_EQ(parse_duration_s("10s"), 10.0);
  EXPECT_EQ(parse_duration_s("1.5s"), 1.5);
  EXPECT_EQ(parse_duration_s("500ms"), 0.5);
  EXPECT_EQ(parse_duration_s("2m"), 120.0);
  EXPECT_EQ(parse_duration_s("2h"), 7200.0);
  EXPECT_EQ(parse_duration_s("0"), 0.0);
  for (const char* bad : {"", "s", "-1s", "10 s", "1.5.2s", "10x", "1e3", "10S", "inf", "nan"}) {
    EXPECT_EQ(parse_duration_s(bad), std::nullopt) << bad;
  }
}

TEST(ExpandTemplate, Placeholders) {
  const std::map<std::string, std::string> vars = {
      {"worker", "gw1"}, {"worker_index", "1"}, {"worker_count", "4"}, {"run_id", "r42"}};
  EXPECT_EQ(expand_template("sqlite:////tmp/app_test_{worker}.db", vars),
            "sqlite:////tmp/app_test_gw1.db");
  EXPECT_EQ(expand_template("{worker_index}/{worker_count}-{run_id}", vars), "1/4-r42");
  EXPECT_EQ(expand_template("{unknown} {worker", vars), "{unknown} {worker");
  EXPECT_EQ(expand_template("{{worker}} {{{worker}}}", vars), "{worker} {gw1}");
  EXPECT_EQ(expand_template("}{", vars), "}{");
  EXPECT_EQ(expand_template("", vars), "");
  EXPECT_EQ(expand_template("{port}", {{"port", "8001"}}), "8001");
}

}  // namespace
}  // namespace bulkhead::sandbox

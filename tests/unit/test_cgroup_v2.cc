// cgroup v2 pieces: finding our own group inside a cgroup namespace, killing a group without
// cgroup.kill (fake tree here), and, on a live v2 hierarchy (the VM of make test-cgroup2),
// freeze+kill and cgroup.kill on a group that keeps forking.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sandbox/cgroup.h"
#include "sandbox/cgroup_v2.h"
#include "sandbox/file_util.h"

namespace bulkhead::sandbox {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/bulkhead-cgv2-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

TEST(CgroupNamespace, OwnDirFoundByPidBelowAMountAboveTheNamespace) {
  TempDir root;
  write(root.path / "system.slice/a.scope/cgroup.procs", "11\n12\n");
  write(root.path / "system.slice/b.scope/cgroup.procs", "13\n");
  write(root.path / "system.slice/b.scope/job/cgroup.procs", "42\n");
  // mountinfo root "/../..": the mount is two levels above our namespace root; we are at
  // "/job" inside it.
  EXPECT_EQ(find_own_cgroup_dir(root.path, 2, "/job", 42),
            (root.path / "system.slice/b.scope/job").string());
  EXPECT_EQ(find_own_cgroup_dir(root.path, 2, "/", 12),
            (root.path / "system.slice/a.scope").string());
  EXPECT_EQ(find_own_cgroup_dir(root.path, 2, "/", 99), "");
}

TEST(CgroupNamespace, LayoutUsesTheFinderForAMountAboveTheNamespace) {
  const char* mountinfo = "30 23 0:26 /../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  std::string asked;
  auto layout = parse_cgroup_layout(
      mountinfo, "0::/\n",
      [&](const std::string& dir) {
        asked = dir;
        return std::string("memory pids\n");
      },
      [](const std::string& mount_point, int levels, const std::string& path) {
        return mount_point + "/found-" + std::to_string(levels) + path;
      });
  ASSERT_TRUE(layout.unified);
  EXPECT_EQ(layout.unified->own_dir, "/sys/fs/cgroup/found-2/");
  EXPECT_EQ(asked, "/sys/fs/cgroup/found-2/");
  EXPECT_TRUE(layout.memory && layout.pids);
  // Without a finder such a mount is not used, rather than mistaken for our own group.
  auto blind = parse_cgroup_layout(mountinfo, "0::/\n", [](const std::string&) { return ""; });
  EXPECT_FALSE(blind.unified);
}

TEST(CgroupNamespace, MountOfAnotherBranchIsNotOurs) {
  const char* mountinfo = "30 23 0:26 /../other /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  auto layout = parse_cgroup_layout(mountinfo, "0::/\n", [](const std::string&) { return ""; });
  EXPECT_FALSE(layout.unified);
  // A mount root is a path prefix only at a '/' boundary.
  const char* docker = "30 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  EXPECT_FALSE(parse_cgroup_layout(docker, "0::/docker/abcdef\n", [](const std::string&) {
                 return "";
               }).unified);
  auto ours =
      parse_cgroup_layout(docker, "0::/docker/abc/job\n", [](const std::string&) { return ""; });
  ASSERT_TRUE(ours.unified);
  EXPECT_EQ(ours.unified->own_dir, "/sys/fs/cgroup/job");
}

pid_t sleeping_child() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  return pid;
}

TEST(CgroupKill, WithoutCgroupKillEveryListedProcessIsKilled) {
  // A kernel before 5.14 has no cgroup.kill (here: a plain directory has none either).
  TempDir group;
  pid_t a = sleeping_child(), b = sleeping_child();
  write(group.path / "cgroup.procs", std::to_string(a) + "\n");
  write(group.path / "child/cgroup.procs", std::to_string(b) + "\n");
  kill_v2_group(group.path);
  for (pid_t pid : {a, b}) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
}

// ---- on a live v2 hierarchy -----------------------------------------------------------------

// A fresh group under our own v2 cgroup holding a process that forks children as fast as it
// can (bounded); `dir` stays empty when this host has no writable v2 cgroup.
struct LiveGroup {
  std::string dir;
  pid_t forker = -1;
  LiveGroup() {
    auto layout = detect_cgroup_layout();
    if (!layout.unified || layout.mode() != "v2") return;
    std::string candidate = layout.unified->own_dir + "/unit-" + std::to_string(::getpid());
    if (::mkdir(candidate.c_str(), 0755) != 0) return;
    dir = candidate;
    int go[2], ready[2];
    if (::pipe(go) != 0 || ::pipe(ready) != 0) return;
    forker = ::fork();
    if (forker == 0) {
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(1);  // moved into the group by now
      for (int i = 0; i < 2000; ++i) {            // bounded
        pid_t child = ::fork();
        if (child == 0) {
          ::pause();
          ::_exit(0);
        }
        if (i == 5) (void)!::write(ready[1], "x", 1);
      }
      ::pause();
      ::_exit(0);
    }
    ::close(go[0]);
    ::close(ready[1]);
    write_file(dir + "/cgroup.procs", std::to_string(forker));
    (void)!::write(go[1], "g", 1);
    char c;
    (void)!::read(ready[0], &c, 1);  // it is forking inside the group now
    ::close(go[1]);
    ::close(ready[0]);
  }
  ~LiveGroup() {
    if (!dir.empty()) kill_v2_group(dir);
    if (forker > 0) {
      ::kill(forker, SIGKILL);
      ::waitpid(forker, nullptr, 0);
    }
    for (int i = 0; i < 100 && !dir.empty() && ::rmdir(dir.c_str()) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  bool populated() const { return read_keyed_counter(dir + "/cgroup.events", "populated") != 0; }
};

TEST(CgroupV2Live, FreezeAndKillEmptiesAForkingGroup) {
  LiveGroup group;
  if (group.dir.empty()) GTEST_SKIP() << "no writable cgroup v2 group here (make test-cgroup2)";
  ASSERT_TRUE(group.populated());
  EXPECT_TRUE(freeze_and_kill(group.dir));
  EXPECT_FALSE(group.populated());
  EXPECT_EQ(read_keyed_counter(group.dir + "/cgroup.events", "frozen"), 0u);  // thawed again
}

TEST(CgroupV2Live, KillEmptiesAForkingGroup) {
  LiveGroup group;
  if (group.dir.empty()) GTEST_SKIP() << "no writable cgroup v2 group here (make test-cgroup2)";
  ASSERT_TRUE(group.populated());
  kill_v2_group(group.dir);
  for (int i = 0; i < 100 && group.populated(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(group.populated());
}

}  // namespace
}  // namespace bulkhead::sandbox

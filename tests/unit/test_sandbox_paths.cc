// Unit tests for the sandbox's path and identity helpers: /proc/net/unix parsing,
// /etc/subuid parsing, symlink resolution inside a tree, and the mount plan's masks, tmpfs
// sizes and idmap flags.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sandbox/bridges.h"
#include "sandbox/file_util.h"
#include "sandbox/identity.h"
#include "sandbox/mask.h"
#include "sandbox/mount.h"
#include "sandbox/project_repo.h"

namespace bulkhead::sandbox {
namespace {

namespace fs = std::filesystem;

TEST(UnixSockets, PathnameSocketsOnlyEachOnce) {
  const std::string text =
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1234 /run/postgresql/.s.PGSQL.5432\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1235 @/tmp/.X11-unix/X0\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 1236\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 1237 /var/lib/app/my app.sock\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1238 /run/postgresql/.s.PGSQL.5432\n";
  EXPECT_EQ(
      parse_unix_socket_paths(text),
      (std::vector<std::string>{"/run/postgresql/.s.PGSQL.5432", "/var/lib/app/my app.sock"}));
  EXPECT_TRUE(parse_unix_socket_paths("").empty());
}

TEST(SubordinateIds, BulkheadEntryWithRoomForTheRange) {
  EXPECT_EQ(parse_subid_base("root:100000:65536\nbulkhead:300000:65536\n"), 300000U);
  EXPECT_EQ(parse_subid_base("bulkhead:300000:1000\n"), std::nullopt);  // too small
  EXPECT_EQ(parse_subid_base("root:100000:65536\n"), std::nullopt);
  EXPECT_EQ(parse_subid_base("bulkhead:x:65536\nbulkhead:5000000:70000\n"), 5000000U);
  EXPECT_EQ(parse_subid_base("bulkhead:4294967295:65536\n"), std::nullopt);  // past 2^32
}

class TreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "bulkhead-tree-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_;
};

TEST_F(TreeTest, ResolveInRootFollowsLinksInsideTheTree) {
  fs::create_directories(root_ + "/run/sub");
  fs::create_directories(root_ + "/var");
  fs::create_directory_symlink("/run", root_ + "/var/run");            // absolute: inside root
  fs::create_directory_symlink("../run/sub", root_ + "/var/rel");      // relative
  fs::create_directory_symlink("../../../..", root_ + "/run/escape");  // cannot climb out
  fs::create_symlink("loop", root_ + "/loop");
  EXPECT_EQ(resolve_in_root(root_, "/var/run"), "/run");
  EXPECT_EQ(resolve_in_root(root_, "/var/run/sub/x"), "/run/sub/x");
  EXPECT_EQ(resolve_in_root(root_, "/var/rel"), "/run/sub");
  EXPECT_EQ(resolve_in_root(root_, "/run/escape/etc"), "/etc");
  EXPECT_EQ(resolve_in_root(root_, "/missing/x"), "/missing/x");
  EXPECT_EQ(resolve_in_root(root_, "/"), "/");
  resolve_in_root(root_, "/loop");  // terminates
}

TEST_F(TreeTest, ReadFirstLineDropsTheLineEndAndTrailingBlanks) {
  std::ofstream(root_ + "/head") << "ref: refs/heads/main \r\nsecond\n";
  std::ofstream(root_ + "/quota") << "max 100000";  // no newline at all
  std::ofstream(root_ + "/empty");
  EXPECT_EQ(read_first_line(root_ + "/head"), "ref: refs/heads/main");
  EXPECT_EQ(read_first_line(root_ + "/quota"), "max 100000");
  EXPECT_EQ(read_first_line(root_ + "/empty"), "");
  EXPECT_EQ(read_first_line(root_ + "/missing"), "");
}

TEST_F(TreeTest, BridgesAtTheOutermostUnsearchableAncestor) {
  fs::permissions(root_, fs::perms::all & ~fs::perms::others_write & ~fs::perms::group_write);
  fs::create_directories(root_ + "/home/alice/work/proj");
  fs::create_directories(root_ + "/opt/tool/bin");
  fs::create_directories(root_ + "/srv/covered/deep");
  fs::permissions(root_ + "/home/alice", fs::perms::owner_all);  // 0700
  fs::permissions(root_ + "/home/alice/work", fs::perms::owner_all);
  fs::permissions(root_ + "/srv/covered", fs::perms::owner_all);
  Searcher stranger{54321, {54321}, false};
  const std::vector<std::string> needed = {root_ + "/home/alice/work/proj", root_ + "/opt/tool/bin",
                                           root_ + "/srv/covered/deep", root_ + "/home/alice/work"};
  EXPECT_EQ(plan_bridges(needed, {root_ + "/srv"}, stranger),
            (std::vector<std::string>{root_ + "/home/alice"}));
  Searcher owner{::getuid(), {::getgid()}, false};  // the tree's owner searches it all
  EXPECT_TRUE(plan_bridges(needed, {}, owner).empty());
  EXPECT_TRUE(plan_bridges(needed, {}, Searcher{54321, {}, true}).empty());
  // A needed path that is itself unsearchable gets no bridge (it is mounted as it is).
  EXPECT_TRUE(plan_bridges({root_ + "/srv/covered"}, {}, stranger).empty());
  EXPECT_TRUE(is_within("/a/b", "/a") && is_within("/a", "/a") && is_within("/x", "/"));
  EXPECT_FALSE(is_within("/ab", "/a"));
}

TEST_F(TreeTest, ProjectRepositoryRootAndGitDirsElsewhere) {
  fs::create_directories(root_ + "/repo/.git");
  fs::create_directories(root_ + "/repo/python/pkg");
  EXPECT_EQ(find_project_repository(root_ + "/repo/python/pkg").root, root_ + "/repo");
  EXPECT_TRUE(find_project_repository(root_ + "/repo").git_dirs.empty());
  EXPECT_EQ(find_project_repository(root_).root, "");  // no .git above the temp dir
  // A worktree: .git is a file naming its gitdir, whose commondir is the main repository.
  fs::create_directories(root_ + "/repo/.git/worktrees/wt");
  std::ofstream(root_ + "/repo/.git/worktrees/wt/commondir") << "../..\n";
  fs::create_directories(root_ + "/wt/sub");
  std::ofstream(root_ + "/wt/.git") << "gitdir: " << root_ << "/repo/.git/worktrees/wt\n";
  const ProjectRepository worktree = find_project_repository(root_ + "/wt/sub");
  EXPECT_EQ(worktree.root, root_ + "/wt");
  // The gitdir lies inside the common dir: one view covers both.
  EXPECT_EQ(worktree.git_dirs, (std::vector<std::string>{root_ + "/repo/.git"}));
}

TEST(MountPlan, MasksSocketsSizesAndIdmap) {
  MountPolicy policy;
  policy.tmpfs = {"/tmp", "/run"};
  policy.mask = {"/etc/shadow", "~/.ssh"};
  policy.binds = {{"/srv/data", "", true}};
  MountInputs inputs;
  inputs.home = "/root";
  inputs.project_dir = "/work/project";
  inputs.memory_limit = 1ULL << 30;
  inputs.idmap = true;
  inputs.host_sockets = {"/run/docker.sock", "/var/lib/app/app.sock", "/work/project/x.sock",
                         "/root/agent.sock", "/tmp/.X11-unix/X0"};
  const auto plan = build_mount_plan(policy, inputs);
  std::vector<std::string> masks, socket_masks;
  for (const auto& record : plan) {
    if (record.kind == MountKind::Tmpfs) {
      EXPECT_EQ(record.size_bytes, 1ULL << 30);
    }
    if (record.kind == MountKind::Overlay || record.kind == MountKind::Bind) {
      EXPECT_TRUE(record.idmap) << record.target;
    }
    if (record.kind == MountKind::Mask) {
      (record.sockets_only ? socket_masks : masks).push_back(record.target);
    }
  }
  EXPECT_EQ(masks, (std::vector<std::string>{"/etc/shadow", "/root/.ssh"}));
  // Under a tmpfs or an overlay a host socket is already out of reach.
  EXPECT_EQ(socket_masks, (std::vector<std::string>{"/var/lib/app/app.sock"}));
  EXPECT_EQ(plan.back().kind, MountKind::Bind);  // binds win over masks

  // A bridge is a small private tmpfs; visible paths under it are bound back.
  inputs.bridges = {"/home/alice"};
  inputs.visible_paths = {"/home/alice/.venv"};
  bool bridged = false, bound = false;
  for (const auto& record : build_mount_plan(policy, inputs)) {
    if (record.kind == MountKind::Tmpfs && record.target == "/home/alice") {
      bridged = true;
      EXPECT_EQ(record.mode, 0755U);
    }
    bound = bound || (record.kind == MountKind::Bind && record.target == "/home/alice/.venv");
  }
  EXPECT_TRUE(bridged && bound);
  inputs.bridges.clear();
  inputs.visible_paths.clear();

  policy.tmpfs_size_bytes = 4096;  // below the memory limit: it wins
  inputs.home = "";
  for (const auto& record : build_mount_plan(policy, inputs)) {
    if (record.kind == MountKind::Tmpfs) {
      EXPECT_EQ(record.size_bytes, 4096U);
    }
    if (record.kind == MountKind::Mask) {
      EXPECT_NE(record.target, "/.ssh");
    }
  }
  EXPECT_EQ(tmpfs_size_for(policy, 1ULL << 30), 4096U);
  policy.tmpfs_size_bytes = 2ULL << 30;  // above it: the memory limit
  EXPECT_EQ(tmpfs_size_for(policy, 1ULL << 30), 1ULL << 30);
  EXPECT_EQ(tmpfs_size_for(policy, std::nullopt), 2ULL << 30);
  policy.tmpfs_size_bytes.reset();
  EXPECT_EQ(tmpfs_size_for(policy, std::nullopt), std::nullopt);
}

TEST(MountPlan, ExecTerminalIsTheConsole) {
  MountPolicy policy;
  MountInputs inputs;
  inputs.idmap = true;
  auto console = [&] {
    const auto plan = build_mount_plan(policy, inputs);
    for (size_t i = 0; i < plan.size(); ++i) {
      if (plan[i].target != "/dev/console") continue;
      // Over the fresh /dev, a device: no idmap, not read-only.
      EXPECT_EQ(plan[i - 1].kind, MountKind::Dev);
      EXPECT_FALSE(plan[i].idmap || plan[i].read_only);
      return plan[i].kind == MountKind::Bind ? plan[i].source : "?";
    }
    return std::string();
  };
  EXPECT_EQ(console(), "");
  inputs.terminal = "/dev/pts/7";
  EXPECT_EQ(console(), "/dev/pts/7");
}

}  // namespace
}  // namespace bulkhead::sandbox

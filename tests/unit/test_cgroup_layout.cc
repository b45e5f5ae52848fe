// cgroup layout detection on v1, v2 and hybrid hosts, the per-version controller files, and
// which stale run groups are ours to remove on a shared hierarchy.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "sandbox/cgroup.h"

namespace bulkhead::sandbox {
namespace {

const char* kV1MountInfo =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
const char* kV1Cgroup = "8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

TEST(CgroupLayout, HybridHostUsesV1ControllersUnderOwnGroup) {
  auto layout = parse_cgroup_layout(kV1MountInfo, kV1Cgroup, [](const std::string&) { return ""; });
  ASSERT_TRUE(layout.memory && layout.cpu && layout.pids);
  EXPECT_EQ(layout.memory->version, CgroupVersion::V1);
  EXPECT_EQ(layout.memory->own_dir, "/sys/fs/cgroup/memory/process_api/abc");
  EXPECT_EQ(layout.pids->own_dir, "/sys/fs/cgroup/pids");
  EXPECT_EQ(layout.mode(), "hybrid");
}

TEST(CgroupLayout, CpuTimeComesFromCpuacctOnV1AndFromAnyGroupOnV2) {
  const std::string mountinfo =
      std::string(kV1MountInfo) +
      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n";
  auto hybrid = parse_cgroup_layout(mountinfo, std::string(kV1Cgroup) + "2:cpuacct:/\n",
                                    [](const std::string&) { return ""; });
  ASSERT_TRUE(hybrid.cpuacct);
  EXPECT_EQ(hybrid.cpuacct->version, CgroupVersion::V1);
  EXPECT_EQ(hybrid.cpuacct->own_dir, "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(hybrid.mode(), "hybrid");
  // v2: cpu.stat is in every group, with or without the cpu controller.
  auto v2 = parse_cgroup_layout("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                                "0::/user.slice\n",
                                [](const std::string&) { return std::string("memory pids\n"); });
  ASSERT_TRUE(v2.cpuacct);
  EXPECT_FALSE(v2.cpu);
  EXPECT_EQ(v2.cpuacct->version, CgroupVersion::V2);
  EXPECT_EQ(v2.cpuacct->own_dir, "/sys/fs/cgroup/user.slice");
}

TEST(CgroupLayout, PureV2TakesControllersListedForOwnGroup) {
  const char* mountinfo = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
  const char* cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n";
  std::string asked;
  auto layout = parse_cgroup_layout(mountinfo, cgroup, [&](const std::string& dir) {
    asked = dir;
    return std::string("cpuset cpu io memory pids\n");
  });
  EXPECT_EQ(asked, "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope");
  ASSERT_TRUE(layout.memory && layout.cpu && layout.pids);
  EXPECT_EQ(layout.memory->version, CgroupVersion::V2);
  EXPECT_EQ(layout.mode(), "v2");
}

TEST(CgroupLayout, V2WithoutDelegatedControllersHasNone) {
  const char* mountinfo = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  auto layout = parse_cgroup_layout(mountinfo, "0::/docker/x\n",
                                    [](const std::string&) { return std::string(""); });
  EXPECT_FALSE(layout.memory || layout.cpu || layout.pids);
  EXPECT_EQ(layout.mode(), "v2");
}

TEST(CgroupLayout, CgroupNamespaceRootIsStripped) {
  // Inside a container the mount's root is the container's cgroup.
  const char* mountinfo = "30 23 0:26 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  auto layout = parse_cgroup_layout(mountinfo, "0::/docker/x/inner\n",
                                    [](const std::string&) { return std::string("memory pids"); });
  ASSERT_TRUE(layout.memory);
  EXPECT_EQ(layout.memory->own_dir, "/sys/fs/cgroup/inner");
}

TEST(CgroupLayout, NothingMountedMeansNone) {
  auto layout = parse_cgroup_layout("", "", [](const std::string&) { return ""; });
  EXPECT_EQ(layout.mode(), "none");
}

TEST(CgroupControllers, V1AndV2NameTheirOwnFiles) {
  auto v1 = make_memory_controller(CgroupVersion::V1)->limit(64 << 20);
  ASSERT_EQ(v1.size(), 1u);
  EXPECT_EQ(v1[0].file, "memory.limit_in_bytes");
  EXPECT_EQ(v1[0].value, "67108864");
  auto v2 = make_memory_controller(CgroupVersion::V2)->limit(64 << 20);
  EXPECT_EQ(v2[0].file, "memory.max");
  EXPECT_EQ(v2[1].file, "memory.swap.max");
  auto cpu_v1 = make_cpu_controller(CgroupVersion::V1)->quota(1.5);
  EXPECT_EQ(cpu_v1[1].file, "cpu.cfs_quota_us");
  EXPECT_EQ(cpu_v1[1].value, "150000");
  auto cpu_v2 = make_cpu_controller(CgroupVersion::V2)->quota(1.5);
  EXPECT_EQ(cpu_v2[0].file, "cpu.max");
  EXPECT_EQ(cpu_v2[0].value, "150000 100000");
  EXPECT_EQ(make_pids_controller(CgroupVersion::V2)->max(64)[0].file, "pids.max");
}

TEST(StaleRunGroups, OnlyTheNameOfARunGroupGivesItsOwner) {
  EXPECT_EQ(run_group_owner("bulkhead-4659-b06dd10e7c0c"), 4659);
  EXPECT_EQ(run_group_owner("bulkhead-4659-b06dd10e7c0c-supervisor"), 4659);  // v2's own leaf
  for (const char* name :
       {"bulkhead-4659", "bulkhead-4659-", "bulkhead--x", "bulkhead-12a-x", "bulkhead-0-x",
        "bulkhead-99999999999-x", "xbulkhead-1-x", "gw0", "bulkhead-"}) {
    EXPECT_FALSE(run_group_owner(name)) << name;
  }
}

// This machine's case: memory under a cgroup of our own (process_api/<ours>), pids and cpuacct
// at the hierarchies' shared roots, where other containers' runs make groups too.
TEST(StaleRunGroups, AtASharedRootOnlyRunsProvenOursAreRemoved) {
  const std::set<pid_t> alive = {11, 21};
  const auto supervisor_alive = [&](pid_t pid) { return alive.count(pid) > 0; };
  const std::vector<StaleScan> scans = {
      {"/m/process_api/ours", false, {"bulkhead-10-aa", "bulkhead-11-bb", "bulkhead-12-cc", "gw0"}},
      {"/p", true, {"bulkhead-10-aa", "bulkhead-11-bb", "bulkhead-20-zz", "bulkhead-21-xx"}},
      {"/c", true, {"bulkhead-10-aa", "bulkhead-30-yy"}},
  };
  EXPECT_EQ(stale_run_groups(scans, supervisor_alive),
            (std::vector<std::string>{"/m/process_api/ours/bulkhead-10-aa",
                                      "/m/process_api/ours/bulkhead-12-cc", "/p/bulkhead-10-aa",
                                      "/c/bulkhead-10-aa"}));
  // Every hierarchy at a shared root: nothing is provably ours, nothing is removed.
  EXPECT_TRUE(stale_run_groups({scans[1], scans[2]}, supervisor_alive).empty());
  // A cgroup namespace of our own (its root is not the hierarchy's): all there is ours.
  EXPECT_EQ(
      stale_run_groups({{"/p", false, {"bulkhead-20-zz", "bulkhead-21-xx"}}}, supervisor_alive),
      (std::vector<std::string>{"/p/bulkhead-20-zz"}));
}

TEST(StaleRunGroups, AHierarchyRootIsToldByItsFiles) {
  std::string pattern = (std::filesystem::temp_directory_path() / "bulkhead-cg-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path dir = pattern;
  // v1: only a hierarchy's root has release_agent; v2: every cgroup but the root cgroup.type.
  EXPECT_FALSE(is_hierarchy_root(dir.string(), CgroupVersion::V1));
  EXPECT_TRUE(is_hierarchy_root(dir.string(), CgroupVersion::V2));
  std::ofstream(dir / "release_agent") << "";
  std::ofstream(dir / "cgroup.type") << "domain\n";
  EXPECT_TRUE(is_hierarchy_root(dir.string(), CgroupVersion::V1));
  EXPECT_FALSE(is_hierarchy_root(dir.string(), CgroupVersion::V2));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bulkhead::sandbox

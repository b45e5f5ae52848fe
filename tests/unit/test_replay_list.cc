// Replay lists (--replay FILE): parsing, worker ids, and the plan that runs exactly the list in
// its order, with every node id the collection lacks named.
#include <gtest/gtest.h>

#include "sandbox/error.h"
#include "src/diagnose/replay_list.h"

namespace bulkhead {
namespace {

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(ReplayList, OnePerLineSkippingBlanksAndComments) {
  EXPECT_EQ(parse_replay_list("# a sequence\nt.py::b\n\n  t.py::a  \r\nt.py::c[1-2]\n", "seq"),
            (std::vector<std::string>{"t.py::b", "t.py::a", "t.py::c[1-2]"}));
}

TEST(ReplayList, RefusesDuplicatesAndEmptyLists) {
  EXPECT_EQ(error_of([] { parse_replay_list("t.py::a\nt.py::b\nt.py::a\n", "seq.txt"); }),
            "seq.txt:3: t.py::a is listed twice (first on line 1): a sandbox runs a test once");
  EXPECT_EQ(error_of([] { parse_replay_list("\n# nothing\n", "seq.txt"); }),
            "seq.txt: lists no node id (one per line)");
  EXPECT_NE(error_of([] {
              read_replay_file("/nonexistent/seq.txt");
            }).find("/nonexistent/seq.txt: cannot read the replay list"),
            std::string::npos);
}

TEST(ReplayList, WorkerIds) {
  EXPECT_EQ(parse_worker_id("gw0"), 0);
  EXPECT_EQ(parse_worker_id("gw17"), 17);
  for (const char* bad : {"", "gw", "3", "gw-1", "gw01", "gw4096", "worker3", "gw3x"}) {
    EXPECT_NE(error_of([bad] { parse_worker_id(bad); }).find("expected a worker id like gw0"),
              std::string::npos)
        << bad;
  }
}

TEST(ReplayList, PlanRunsExactlyTheListInItsOrder) {
  const std::vector<ScheduledItem> items = {
      {"t.py::a", ""}, {"t.py::b", ""}, {"t.py::c", ""}, {"t.py::d", ""}};
  const WorkPlan plan = replay_plan(items, {"t.py::d", "t.py::a", "t.py::c"}, "seq");
  EXPECT_EQ(plan.sequence, (std::vector<std::size_t>{3, 0, 2}));
  EXPECT_EQ(plan.selected, (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ(plan.note, "replaying 3 tests in order from seq");
}

TEST(ReplayList, PlanNamesEveryUnknownNodeId) {
  const std::vector<ScheduledItem> items = {{"t.py::a", ""}, {"t.py::b", ""}};
  EXPECT_EQ(error_of([&] {
              replay_plan(items, {"t.py::a", "t.py::gone", "u.py::x"}, "seq");
            }),
            "seq: 2 of 3 node ids were not collected (renamed, deselected, or another "
            "rootdir?):\n  t.py::gone\n  u.py::x");
}

}  // namespace
}  // namespace bulkhead

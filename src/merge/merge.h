// Merging the reports of a sharded run into one result (`bulkhead merge`), as pure logic: the
// shards must belong together (one shard count, one collection, one split), every collected
// test ends up exactly once (a test no shard reported is not run, naming its shard and why),
// and the exit status is the one a single run would have had.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead {

// One shard's JSON report, as read from its file.
struct ShardInput {
  std::string path;
  RunInfo run;                          // run.shard is required
  std::vector<std::string> collection;  // node ids in collection order
  std::vector<TestRecord> tests;
};

struct MergeResult {
  std::vector<std::string> errors;  // reports that do not belong together: exit 3
  std::vector<TestRecord> tests;    // the collection, each test once, in order
  std::vector<ShardSummary> shards;
  RunInfo run;  // of the merged run
  std::size_t not_run = 0;
  int exit_code = 0;
};

// The shards' reports, in any order.
MergeResult merge_shards(std::vector<ShardInput> inputs);

}  // namespace bulkhead

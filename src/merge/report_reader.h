// Reading a JSON report back (the format json.cc writes, docs/reports.md) into the results
// model: the run's settings with its shard assignment, and every test with its phases.
#pragma once

#include <string>

#include "src/merge/merge.h"

namespace bulkhead {

// Throws UserError naming the file and the key at fault ("shard-2.json: tests[7].phases: ...").
ShardInput read_shard_report(const std::string& path);

}  // namespace bulkhead

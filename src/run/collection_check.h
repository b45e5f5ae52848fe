// Do two workers agree on what was collected? As pytest-xdist does, every worker collects and
// all must match the first; otherwise the run stops and says how they differ.
#pragma once

#include <string>
#include <vector>

#include "src/run/protocol.h"

namespace bulkhead {

// "" when both lists hold the same node ids in the same order; else a message naming both
// workers, the sizes and up to ten differing ids ("  - only in the first", "  + only in the
// second"), or that only the order differs.
std::string collection_difference(const std::vector<protocol::CollectedItem>& reference,
                                  const std::string& reference_worker,
                                  const std::vector<protocol::CollectedItem>& other,
                                  const std::string& other_worker);

}  // namespace bulkhead

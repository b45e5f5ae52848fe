// A compact binary form of one TestRecord and its terminal display facts, for the result
// store's spill file (result_store.h). Private to one process: no versioning, native byte order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "src/report/test_model.h"
#include "src/run/protocol.h"

namespace bulkhead {

// Appends the record (and its per-phase displays, which may be empty) to `out`.
void encode_record(const TestRecord& record, const std::vector<protocol::PhaseDisplay>& displays,
                   std::string& out);
// Reads back what encode_record wrote; throws std::runtime_error on a truncated or bad buffer.
// `displays` may be null when the caller does not need them.
TestRecord decode_record(std::string_view data, std::vector<protocol::PhaseDisplay>* displays);

}  // namespace bulkhead

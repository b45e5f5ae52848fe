// `bulkhead run --replay FILE --replay-worker gwN`: the node ids a replay runs, in order, in one
// sandbox whose worker id is gwN. Reads the list, parses the worker id, and turns the list into
// the run's WorkPlan (an exact hand-out order) once the collection is known. Pure logic but for
// reading the file.
#pragma once

#include <string>
#include <vector>

#include "src/run/scheduler.h"

namespace bulkhead {

// The node ids of a replay file: one per line, in order; blank lines and lines starting with
// '#' are skipped, surrounding whitespace trimmed. Throws UserError naming the file (and line)
// when it cannot be read, lists nothing, or lists a node id twice.
std::vector<std::string> read_replay_file(const std::string& path);
std::vector<std::string> parse_replay_list(const std::string& text, const std::string& path);

// "gw3" -> 3. Throws UserError when `text` is not gw followed by a number below 4096.
int parse_worker_id(const std::string& text);

// The plan that runs exactly `nodeids`, in that order, out of the collection `items`. Throws
// UserError naming every node id the collection does not have (`path` names the list).
WorkPlan replay_plan(const std::vector<ScheduledItem>& items,
                     const std::vector<std::string>& nodeids, const std::string& path);

}  // namespace bulkhead

// pytest's cache (.pytest_cache) written by the supervisor, for runs without a host session:
// the same entries a plain pytest run writes at session finish (cache/lastfailed,
// cache/nodeids, cache/stepwise), merged from every worker's results. Workers cannot write it:
// their writes stay in their overlays. With a host session, its own pytest writes it instead.
#pragma once

#include <string>
#include <vector>

#include "src/report/result_store.h"
#include "src/report/test_model.h"
#include "src/run/protocol.h"

namespace bulkhead {

// The last-failed set after this run: `before` (the worker's view after collection, which
// already holds collection errors) updated by each test's phases as pytest's cache plugin
// does (a passing call or any skip removes the test, any failure adds it).
nlohmann::json updated_lastfailed(const nlohmann::json& before, const ResultStore& records);

// Writes the entries. `collected` are the node ids of this run's collection. Returns the
// problems met (unwritable directory...), one sentence each; an empty list when all is well.
std::vector<std::string> write_pytest_cache(const protocol::PytestCacheFacts& facts,
                                            const ResultStore& records,
                                            const std::vector<std::string>& collected);

}  // namespace bulkhead

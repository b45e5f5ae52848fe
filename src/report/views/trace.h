// The Chrome trace / Perfetto JSON (`--trace`), made from the JSON report: one track per worker,
// each sandbox a slice holding the slices of the tests it ran, instant events where a timeout,
// crash or OOM kill struck and where a replacement sandbox started.
#pragma once

#include <nlohmann/json.hpp>

namespace bulkhead {

// `report` is a parsed JSON report (docs/reports.md); times in the trace are microseconds
// from the earliest start in it.
nlohmann::json render_trace(const nlohmann::json& report);

}  // namespace bulkhead

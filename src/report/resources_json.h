// A test's resources (TestResources) as JSON, in one place for what carries them besides the
// streamed JSON report: run records' results lines, and the readers of reports (`bulkhead
// merge`, the CI step summary) and records.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "src/report/test_model.h"

namespace bulkhead {

// Only what was measured: unset fields are left out (as in the JSON report's "resources").
nlohmann::json resources_json(const TestResources& resources);

// A field of the wrong kind: the caller's error naming its file (it must throw).
using ResourceFieldError =
    std::function<void(const std::string& field, const std::string& expected)>;

// Reads one back; absent or null fields stay unset. Anything but an object, or a field of the
// wrong kind (a negative CPU time, a count that is not a whole number of 0 or more), calls
// `fail` ("" for the object itself).
TestResources resources_from_json(const nlohmann::json& object, const ResourceFieldError& fail);

}  // namespace bulkhead

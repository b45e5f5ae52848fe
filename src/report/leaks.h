// What a test left behind in its sandbox, as the worker's leak check (bulkhead_leaks.py) named
// it: `bulkhead_leaked` user properties on the test's teardown report.
#pragma once

#include <string>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead {

inline constexpr const char* kLeakedProperty = "bulkhead_leaked";

// Each leak of the test, in the order the worker named them ("thread 'srv' (9)", "fd 7 (...)").
std::vector<std::string> leaks_of(const TestRecord& test);
// "a; b; c": the LEAKED line's text.
std::string leaks_joined(const std::vector<std::string>& leaks);

}  // namespace bulkhead

// JUnit XML as pytest writes it, merged across workers: one <testsuite>, counts recomputed
// from the cases, each case once, the worker as a property.
#pragma once

#include <string>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead {

// Throws SysError when the file cannot be written.
void write_junit_xml(const std::string& path, const std::vector<TestRecord>& tests,
                     const RunInfo& run);
// The same document as a string (for tests).
std::string render_junit_xml(const std::vector<TestRecord>& tests, const RunInfo& run);

}  // namespace bulkhead

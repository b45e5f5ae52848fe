// JUnit XML as pytest writes it, merged across workers: one <testsuite>, counts recomputed
// from the cases, each case once, the worker as a property.
#pragma once

#include <string>
#include <vector>

#include "src/report/result_store.h"
#include "src/report/test_model.h"

namespace bulkhead {

// Streams the document to `path`.tmp one testcase at a time (tests read from the store one at a
// time), then renames it. Throws SysError when the file cannot be written.
void write_junit_xml(const std::string& path, const ResultStore& tests, const RunInfo& run);
void write_junit_xml(const std::string& path, const std::vector<TestRecord>& tests,
                     const RunInfo& run);
// The same document as a string (for tests).
std::string render_junit_xml(const ResultStore& tests, const RunInfo& run);
std::string render_junit_xml(const std::vector<TestRecord>& tests, const RunInfo& run);

}  // namespace bulkhead

// The HTML report: one self-contained file (no network at view time): the counts, the shards
// of a merged run, every failure with its traceback and captured output, the tests that never
// ran, and every test in a table with a filter by outcome and name.
#pragma once

#include <string>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead {

std::string render_html_report(const std::vector<TestRecord>& tests, const RunInfo& run);
// Written atomically; throws SysError naming the path.
void write_html_report(const std::string& path, const std::vector<TestRecord>& tests,
                       const RunInfo& run);

}  // namespace bulkhead

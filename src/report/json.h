// The JSON report: every test with its phases, worker, times, longrepr, captured output and
// cause, plus the run's settings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead {

nlohmann::json render_json_report(const std::vector<TestRecord>& tests, const RunInfo& run);
// The same document as compact JSON text, written directly (no DOM): the file's contents.
std::string render_json_text(const std::vector<TestRecord>& tests, const RunInfo& run);
// Throws SysError when the file cannot be written.
void write_json_report(const std::string& path, const std::vector<TestRecord>& tests,
                       const RunInfo& run);

}  // namespace bulkhead

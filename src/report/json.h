// The JSON report: every test with its phases, worker, times, longrepr, captured output and
// cause, plus the run's settings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/report/atomic_file.h"
#include "src/report/result_store.h"
#include "src/report/test_model.h"

namespace bulkhead {

// Tests come from the result store, one loaded at a time; the vector forms (`bulkhead merge`,
// tests) store theirs in memory first.
nlohmann::json render_json_report(const ResultStore& tests, const RunInfo& run);
nlohmann::json render_json_report(const std::vector<TestRecord>& tests, const RunInfo& run);
// The same document as compact JSON text, written directly (no DOM): the file's contents.
std::string render_json_text(const ResultStore& tests, const RunInfo& run);
std::string render_json_text(const std::vector<TestRecord>& tests, const RunInfo& run);
// The text in pieces, as the tests are read (no newline at the end).
void stream_json_text(const ResultStore& tests, const RunInfo& run, const TextOut& out);
// Streams the text to `path`.tmp as the tests are read, then renames it: the document is never
// whole in memory. Throws SysError when the file cannot be written.
void write_json_report(const std::string& path, const ResultStore& tests, const RunInfo& run);
void write_json_report(const std::string& path, const std::vector<TestRecord>& tests,
                       const RunInfo& run);

}  // namespace bulkhead

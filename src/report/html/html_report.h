// The HTML report: one self-contained file (inline CSS and JavaScript, no network at view
// time) made from the JSON report's text, so a run and `bulkhead merge` make the same page.
// The page renders the summary, the worker timeline, the failures, the slowest tests and a
// filtered list of every test from the embedded JSON (page_script.inc).
#pragma once

#include <string>
#include <string_view>

#include "src/report/atomic_file.h"

namespace bulkhead {

// `json_report` is the JSON report (docs/reports.md), embedded verbatim but for "<" (as \u003c).
std::string render_html_report(std::string_view json_report);
// Written atomically, the JSON streamed into the page as `json_report` makes it; throws
// SysError naming the path.
void write_html_report(const std::string& path, const TextSource& json_report);

}  // namespace bulkhead

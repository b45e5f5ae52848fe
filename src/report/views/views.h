// The views made from the JSON report after a run or a merge: the HTML report (--html), the
// Chrome trace (--trace), and on GitHub Actions the annotations and the step summary. One JSON
// text feeds them all, so a run and `bulkhead merge` make the same views.
#pragma once

#include <functional>
#include <string>

#include "src/report/atomic_file.h"
#include "src/report/terminal.h"

namespace bulkhead {

struct ReportViewPaths {
  std::string html;   // "" : none
  std::string trace;  // "" : none
};

// Writes what `paths` asks for and, when GITHUB_ACTIONS=true, prints the annotations and
// appends to $GITHUB_STEP_SUMMARY. `json_report` makes the JSON text at most once, only when a
// view is made; the HTML alone takes it as it streams, the trace and GitHub's output parse it
// whole. Throws SysError naming a file that cannot be written.
void write_report_views(const ReportViewPaths& paths, const TextSource& json_report,
                        Terminal& terminal);

// On GitLab CI (GITLAB_CI=true): a collapsible section of the job log around a phase of the
// run, opened here and closed when destroyed; elsewhere nothing.
class CiSection {
 public:
  CiSection(std::FILE* out, const std::string& name, const std::string& header,
            bool collapsed = false);
  ~CiSection();
  CiSection(const CiSection&) = delete;
  CiSection& operator=(const CiSection&) = delete;

 private:
  std::FILE* out_ = nullptr;  // nullptr: not on GitLab
  std::string name_;
};

// The marker lines, exposed for the unit tests.
std::string gitlab_section_start(const std::string& name, const std::string& header, bool collapsed,
                                 long long unix_time);
std::string gitlab_section_end(const std::string& name, long long unix_time);

}  // namespace bulkhead

// --retries, after the first run: its failed tests run again in fresh sandboxes (which, how
// and the verdicts: retry_book.h), the verdicts are printed, and every attempt is kept on its
// test for the reports. Uses the first run's sandbox, launch and settings.
#pragma once

#include "sandbox/sandbox.h"
#include "src/report/terminal.h"
#include "src/run/supervisor.h"
#include "src/run/worker_process.h"

namespace bulkhead {

struct RetryOptions {
  int retries = 0;           // --retries N: reruns alone per failed test (0: none)
  bool flaky_passes = true;  // --flaky-result pass: a flaky test counts as passed
};

// Runs the retries when the first run failed on tests (exit status 1) and returns the run's
// exit status after them: 0 once every failure turned out flaky (and flaky passes), else 1.
// Other statuses (interrupted, internal error...) are returned as they are, without retries.
int run_retries(sandbox::Sandbox& sandbox, const WorkerLaunch& launch,
                const SupervisorSettings& settings, const TerminalOptions& terminal_options,
                const RetryOptions& options, Terminal& terminal, RunResult& result);

}  // namespace bulkhead

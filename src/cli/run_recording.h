// The run record of `bulkhead run` (src/record/): its header from what the run resolved
// (command line, versions, profile and limits, each worker's env, seeds, settings).
#pragma once

#include <memory>
#include <string>

#include "sandbox/profile.h"
#include "src/cli/run_options.h"
#include "src/python/interpreter.h"
#include "src/record/run_recorder.h"
#include "src/run/supervisor.h"
#include "src/run/worker_process.h"

namespace bulkhead {

struct RecordingFacts {
  std::string run_id;
  double start_time = 0;
  std::string cwd;
  std::string project_dir;    // the rootdir when the run ends before any collection
  std::string randomly_seed;  // the seed bulkhead chose for pytest-randomly, "" when none
};

// The recorder for this run, or nullptr with --no-record. Call after the services started
// (their setup commands add to the workers' env).
std::unique_ptr<record::RunRecorder> make_run_recorder(
    const RunOptions& options, const PythonInfo& python, const sandbox::Profile& profile,
    const WorkerLaunch& launch, const SupervisorSettings& settings, const RecordingFacts& facts);

}  // namespace bulkhead

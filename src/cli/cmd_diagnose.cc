// `bulkhead repro` and `bulkhead bisect`: their options, the record they read (the last run by
// default), the environment warning, the replays' runner, and the exit status (diagnosis.h).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "sandbox/error.h"
#include "src/cli/commands.h"
#include "src/cli/record_location.h"
#include "src/diagnose/bisect.h"
#include "src/diagnose/record_diagnosis.h"
#include "src/diagnose/repro.h"
#include "src/record/run_record.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

enum class Command { Repro, Bisect };

struct DiagnoseOptions {
  std::string nodeid;
  std::string run;         // --run: "" the last
  std::string record_dir;  // --record-dir: where the records are
  int width = 0;           // bisect -n: 0 the record's worker count
};

int diagnose(Command command, int argc, char** argv) {
  const char* name = command == Command::Repro ? "bulkhead repro" : "bulkhead bisect";
  CLI::App app{command == Command::Repro
                   ? "Replays a failed test's recorded sandbox sequence (same worker id) and the "
                     "test alone: consistent, order-dependent or flaky."
                   : "Finds the tests that make an order-dependent failure fail: delta debugging "
                     "over the tests its sandbox ran before it, replays in parallel sandboxes.",
               name};
  DiagnoseOptions options;
  app.add_option("NODEID", options.nodeid, "The test, as the run's report names it")->required();
  app.add_option("--run", options.run, "The run (an id or a unique prefix; default: the last)")
      ->type_name("ID");
  app.add_option("--record-dir", options.record_dir,
                 "Where the run records are (default: as `bulkhead runs` finds them: "
                 "$BULKHEAD_RECORD_DIR, pyproject's record_dir, else the nearest .bulkhead/runs)")
      ->type_name("DIR");
  if (command == Command::Bisect) {
    app.add_option("-n,--numprocesses", options.width,
                   "Replays run at once, each in its own sandbox (default: the run's workers)")
        ->type_name("N")
        ->check(CLI::Range(1, 256));
  }
  app.footer("Exit status: 0 the test passed in that run (nothing to reproduce)" +
             std::string(command == Command::Bisect ? " or its polluters were found" : "") +
             "; 1 consistent (it fails alone)" +
             (command == Command::Repro ? "; 6 order-dependent" : "") +
             "; 7 flaky (the failure did not come back); 2 no record, unknown run or node id; 3 a "
             "replay could not run; 4 usage error; 130 interrupted.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "%s: %s\n", name, error.what());
    return kDiagnoseUsage;
  }

  const RecordedFailure failure = read_recorded_failure(
      find_runs_dir(options.record_dir, fs::current_path().string()), options.run, options.nodeid);
  const Diagnosis& diagnosis = failure.diagnosis;
  std::printf("%s: %s %s\n", name, diagnosis.target.nodeid.c_str(),
              describe_recorded(diagnosis).c_str());
  if (!failure.failed) {
    std::printf("nothing to reproduce: it %s\n", diagnosis.recorded_outcome.c_str());
    return 0;
  }
  if (!failure.env.empty()) {
    std::printf(
        "warning: the environment differs from the one %s had (the replays run with the "
        "current one): %s\n",
        diagnosis.target.worker.c_str(), describe_env_differences(failure.env).c_str());
  }
  if (!failure.env_note.empty()) std::printf("warning: %s\n", failure.env_note.c_str());
  if (!failure.commit_note.empty()) std::printf("warning: %s\n", failure.commit_note.c_str());
  std::fflush(stdout);
  const ScratchDir scratch;
  ReplayRunner runner(self_executable(), scratch.path());
  if (command == Command::Repro) return run_repro(diagnosis, runner, stdout);
  const int width = options.width > 0 ? options.width : diagnosis.target.workers;
  return run_bisect(diagnosis, runner, width, stdout).status;
}

int guarded(Command command, int argc, char** argv) {
  const char* name = command == Command::Repro ? "bulkhead repro" : "bulkhead bisect";
  try {
    return diagnose(command, argc, argv);
  } catch (const DiagnoseStop& stop) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", name, stop.what());
    return stop.status();
  } catch (const std::exception& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", name, error.what());
    return kDiagnoseReplayFailed;
  }
}

}  // namespace

int cmd_repro(int argc, char** argv) { return guarded(Command::Repro, argc, argv); }
int cmd_bisect(int argc, char** argv) { return guarded(Command::Bisect, argc, argv); }

}  // namespace bulkhead

// `bulkhead run` options: bulkhead's own flags (CLI11; everything else passes through to
// pytest in order) merged over `[tool.pytest-bulkhead]` from pyproject.toml. Flags win.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/run/scheduler.h"

namespace bulkhead {

struct RunOptions {
  std::optional<int> workers;  // -n N; nullopt: auto
  std::string profile = "default";
  std::optional<uint64_t> memory_bytes;
  std::optional<double> cpus;
  std::optional<uint64_t> pids;
  std::optional<uint64_t> nofile;
  std::optional<double> timeout_s;          // per test
  std::optional<double> session_timeout_s;  // whole run
  DistMode dist = DistMode::Load;
  std::string junitxml;
  std::string json_path;
  std::string html_path;   // --html: the HTML report
  std::string trace_path;  // --trace: Chrome trace / Perfetto JSON
  std::string python;
  std::string image;                      // --image dir:PATH: PATH (absolute); "" = the host's tree
  std::optional<int> max_worker_restart;  // nullopt: 4 x workers, as pytest-xdist
  bool require_isolation = false;
  bool keep_logs = false;                  // --keep-logs: keep the worker logs dir after the run
  std::string color = "auto";              // yes | no | auto
  std::string progress = "auto";           // auto | line | plain | off
  std::string controller = "auto";         // the host session: auto | on | off
  std::vector<std::string> write_through;  // project paths written through (with the profile's)
  uint64_t output_cap_bytes = uint64_t{1} << 20;
  std::string shard;             // --shard I/N or auto; "" runs the whole suite
  bool store_durations = false;  // --store-durations: write durations_path after the run
  std::string durations_path = ".test_durations";  // pytest-split's file, relative to the cwd
  std::string zygote = "auto";                     // on | off | auto (src/run/zygote.h)
  std::string spares = "auto";                     // on | off | auto (supervisor_spares.cc)
  std::string isolate = "worker";                  // test | file | worker: a sandbox per ...
  std::string replay_file;                         // --replay FILE
  std::vector<std::string> replay;    // its node ids, read at parse: run exactly these, in order
  int replay_worker = 0;              // --replay-worker gwN: the replay's worker id
  std::vector<std::string> forwards;  // --forward (all of them), else pyproject `forward`
  std::string forwards_origin;        // "--forward" or "<pyproject> forward"
  std::optional<std::string> setup, teardown;                // once per run
  std::optional<std::string> worker_setup, worker_teardown;  // once per worker slot
  std::optional<double> setup_timeout_s;                     // each setup/teardown command
  std::string leaks = "warn";             // warn | fail | off (bulkhead_leaks.py)
  std::optional<std::size_t> top_memory;  // --top-memory N: the N highest peaks (0: all)
  int retries = 0;                        // --retries N (src/retry/)
  std::string flaky_result = "pass";      // --flaky-result pass | fail
  std::vector<std::string> pytest_args;   // passed to every worker, in order
  std::string config_file;                // the pyproject.toml that was read, "" when none
  bool show_help = false;
  std::string help_text;
  std::string record_dir;  // --record-dir: run records' directory; "" = <rootdir>/.bulkhead/runs
  bool record = true;      // --no-record: no run record
};

// Reads `[tool.pytest-bulkhead]` from `pyproject_path` into `options`. A missing table is not
// an error. Throws UserError "path:line:col: message" for bad TOML, unknown keys, bad values.
void apply_pyproject(const std::string& pyproject_path, RunOptions& options);
// The same for the text of a pyproject.toml; `pyproject_path` names it in errors.
void apply_pyproject_text(std::string_view text, const std::string& pyproject_path,
                          RunOptions& options);

// The pyproject.toml that configures a run started in `cwd`: the nearest one in `cwd` or a
// parent directory. "" when there is none.
std::string find_pyproject(const std::string& cwd);

// Parses `bulkhead run` arguments (argv[0] is the command name) over the config found from
// `cwd`. Throws UserError naming the bad option and value.
RunOptions parse_run_options(int argc, char** argv, const std::string& cwd);

// What the pass-through pytest args ask of the display before any worker reports its config.
struct PytestArgFacts {
  int verbosity = 0;               // -v/-q counts
  bool capture_disabled = false;   // -s / --capture=no
  bool randomly_disabled = false;  // -p no:randomly
  bool has_randomly_seed = false;  // --randomly-seed given
  bool cache_show = false;         // --cache-show: pytest only prints its cache, on the host
};
PytestArgFacts inspect_pytest_args(const std::vector<std::string>& args);

}  // namespace bulkhead

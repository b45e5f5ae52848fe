// Run records (docs/records.md): what one `bulkhead run` was (versions, command line, profile
// and limits, each worker's env with secrets hashed, seeds) and, for every sandbox that ran,
// the exact sequence of tests it ran. The data model, where records live, and reading them
// back; writing is record_writer.h's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "src/report/test_model.h"

namespace bulkhead::record {

constexpr int kFormatVersion = 1;
constexpr std::size_t kKeptRuns = 20;  // records kept per runs directory, newest

// A record that cannot be read: names the file (and line, for the results stream) and field.
class RecordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One test as it ended, one line of the results stream (results.jsonl).
struct RecordedTest {
  std::size_t index = 0;  // position in the agreed collection
  std::string nodeid;
  std::string worker;   // "gw1"; "" when it never ran
  int sandbox = -1;     // incarnation of the worker's slot (0 the first sandbox, +1 on every
                        // replacement or --isolate unit); -1 when it never ran
  int seq = -1;         // position in that sandbox's run order (0 first); -1 when it never ran
  std::string outcome;  // overall: passed, failed, error, skipped, xfailed, xpassed, notrun
  std::string cause;    // "", "timeout", "crash", "oom", "notrun"
  std::string cause_message;
  double start = 0;  // unix times; 0 when it never ran
  double stop = 0;   // (results lines also carry duration = stop - start)
  // Which run of the record: 0 the run itself; k >= 1 the k-th --retries sub-run, whose kind
  // is "alone" (rerun alone in a fresh sandbox) or "replay" (after its predecessors).
  int attempt = 0;
  std::string kind = "run";  // "run", "alone", "replay"
  // What it cost, as its worker measured it (CPU, memory peak and start, pids); absent when
  // not measured or when the test did not finish in its worker.
  std::optional<TestResources> resources;
};

struct RecordedLimits {
  std::optional<uint64_t> memory_bytes;
  std::optional<double> cpus;
  std::optional<uint64_t> pids;
  std::optional<uint64_t> nofile;
  std::optional<double> test_timeout_s;  // the profile's per-test limit
};

struct RecordedSettings {
  int workers = 0;
  std::string dist;                 // load, loadfile, ...
  std::string mode;                 // "zygote" or "spawn"
  std::string isolate;              // worker, test, file
  std::optional<double> timeout_s;  // --timeout
  int retries = 0;
};

struct RunRecord {
  int format = kFormatVersion;
  std::string dir;  // the run's directory (set by read_run)
  std::string run_id;
  double start_time = 0;  // unix time
  double duration = 0;    // seconds; 0 while running
  int exit_code = -1;     // -1: the run did not finish (still running, or bulkhead died)
  bool finished = false;  // run.json was completed at the run's end
  std::string bulkhead_version;
  std::string python;  // interpreter path
  std::string python_version;
  std::string pytest_version;
  // The bulkhead command line, argv[0] included; arguments that were absolute paths inside
  // the rootdir are made relative to cwd, so the record works in another checkout.
  std::vector<std::string> argv;
  std::string cwd;      // relative to rootdir ("." for the rootdir) when inside it, else absolute
  std::string rootdir;  // absolute, as the run found it
  std::string git_commit;  // `git rev-parse HEAD` of the rootdir's checkout; "" when none
  std::vector<std::string> pytest_args;
  std::string profile;  // resolved profile name
  std::string profile_path;
  RecordedLimits limits;
  RecordedSettings settings;
  // The env given to the workers: `env` what all share, `worker_env` per worker what differs
  // (profile templates, setup commands, PYTEST_XDIST_WORKER). Secret-looking values hashed.
  std::map<std::string, std::string> env;
  std::map<std::string, std::map<std::string, std::string>> worker_env;
  std::map<std::string, std::string> seeds;   // PYTHONHASHSEED, randomly, random-order
  std::map<std::string, std::size_t> counts;  // passed, failed, ... (the run's, attempt 0)
  std::size_t collected = 0;
  std::vector<RecordedTest> tests;  // in the order they ended
};

// Where records live by default: <rootdir>/.bulkhead/runs.
std::string runs_dir(const std::string& rootdir);

// Run ids in `runs_dir`, newest first (by start time). A missing directory lists nothing.
std::vector<std::string> list_runs(const std::string& runs_dir);

// The run `wanted` names: "" the newest, else a run id or a unique prefix of one. Throws
// RecordError naming the directory, or the id (unknown, ambiguous: the candidates).
std::string resolve_run(const std::string& runs_dir, const std::string& wanted);

// Reads a run's record. Throws RecordError naming the file (and line) and field. A results
// stream whose last line was cut off (bulkhead died mid-write) loses that line only. With
// `on_test`, each test goes there as it is read instead of into `tests` (a run of 100 000
// tests is ~40 MB as RecordedTests).
RunRecord read_run(const std::string& runs_dir, const std::string& run_id,
                   const std::function<void(RecordedTest&&)>& on_test = {});

// The tests the sandbox that ran `test` ran before it, in order, then `test` itself. Empty
// when the test never ran.
std::vector<const RecordedTest*> sandbox_sequence(const RunRecord& run, const RecordedTest& test);

// The test `nodeid` of the run itself (attempt 0), or nullptr.
const RecordedTest* find_recorded_test(const RunRecord& run, const std::string& nodeid);

// The complete recorded env of `worker` ("gw1"): the shared env with the worker's own on top.
std::map<std::string, std::string> worker_env(const RunRecord& run, const std::string& worker);

// Whether a variable's name looks secret (TOKEN, SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL,
// AUTH, COOKIE, SESSION, PRIVATE, in any case); its value is then recorded as recorded_value.
bool looks_secret(const std::string& name);
// "sha256:<first 16 hex digits>" of `value` for a secret-looking name, else the value itself.
std::string recorded_value(const std::string& name, const std::string& value);

// JSON texts of the record's two files (round trip with read_run).
std::string run_json_text(const RunRecord& run);    // run.json (without `tests`)
std::string result_line(const RecordedTest& test);  // one results.jsonl line, with '\n'
// A results line read back: the general way (a JSON tree, every field checked; throws
// RecordError naming `where`), and the fast path read_run takes first for the common line (a
// test that ran; flat_json.h), which gives the same test for every line it takes.
RecordedTest result_from_line(std::string_view line, const std::string& where);
std::optional<RecordedTest> plain_result_line(std::string_view line);

}  // namespace bulkhead::record

// The results model shared by the supervisor, the terminal output and the report writers:
// one TestRecord per collected test, each holding pytest's report phases as the worker sent them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bulkhead {

// Why a test ended outside pytest's own outcomes (isolate-style short codes in parentheses).
enum class Cause : std::uint8_t {
  None,     // pytest reported it normally
  Timeout,  // (TO) the supervisor's per-test deadline
  Crash,    // (SG/RE) the worker died: signal or exit status
  OOM,      // (OOM) the cgroup's OOM killer, read from the cgroup
  NotRun,   // (XX) never ran: worker restarts exhausted, session timeout, interrupted
};
const char* cause_name(Cause cause);  // "timeout", "crash", "oom", "notrun", ""

// One pytest TestReport phase, as the worker serialised it.
struct PhaseReport {
  std::string when;      // "setup" | "call" | "teardown"
  std::string outcome;   // "passed" | "failed" | "skipped"
  std::string category;  // pytest_report_teststatus category: "passed", "failed", "error",
                         // "skipped", "xfailed", "xpassed", or "" (not counted)
  std::string letter;    // progress letter: ".", "F", "E", "s", "x", "X", or ""
  std::string word;      // verbose word: "PASSED", "FAILED", "ERROR", "SKIPPED", ...
  double duration = 0;   // seconds
  double start = 0;      // unix time
  double stop = 0;
  std::string longrepr;  // as pytest prints it in the failure section (--tb honoured)
  std::string message;   // one line for the short summary / JUnit message attribute
  std::vector<std::pair<std::string, std::string>> sections;  // ("Captured stdout call", text)
  std::string wasxfail;  // xfail reason, when the test is xfail-marked
  nlohmann::json raw;    // pytest_report_to_serializable output (for --json)
};

// What a test cost, read by its worker from the sandbox's cgroup and pid namespace at the test's
// start and end (src/python/bulkhead_resources.py; docs/reports.md, "Resources"). Unset fields
// were not measured.
struct TestResources {
  std::optional<double> cpu_s;  // user + system CPU time of every process in the sandbox
  std::string cpu_source;       // "cgroup", or "rusage" (the worker and its waited-for children)
  std::optional<std::uint64_t> memory_peak_bytes;   // the sandbox's peak (the interpreter too)
  std::optional<std::uint64_t> memory_start_bytes;  // the sandbox's usage as the test started
  std::string memory_peak_scope;  // "test" (reset at its start) or "sandbox" (its peak so far)
  std::optional<std::uint64_t> pids_started;  // processes and threads started during the test
};

// One more run of a test that failed (--retries, src/retry/), or its first run once a later
// attempt became the test's result.
struct RetryAttempt {
  std::string kind;              // "first" (the run), "alone" (rerun alone in a fresh sandbox),
                                 // "replay" (after the tests its first sandbox ran before it)
  std::size_t predecessors = 0;  // "first", "replay": the tests its sandbox ran before it
  std::string worker;
  std::string outcome;  // overall_outcome() of the attempt
  std::vector<PhaseReport> phases;
  Cause cause = Cause::None;
  std::string cause_message;
  std::optional<TestResources> resources;
};

struct TestRecord {
  std::size_t index = 0;  // position in the agreed collection
  std::string nodeid;
  std::string worker;  // "gw1" (last worker that ran it)
  int sandbox = -1;    // which sandbox of that worker's slot ran it (0 the first); -1 never ran
  int seq = -1;        // its position in that sandbox's run order (0 first); -1 never ran
  std::vector<PhaseReport> phases;
  Cause cause = Cause::None;
  std::string cause_message;  // human-readable: "Timeout: exceeded 5s", "OOM: limit 512 MiB..."
  bool finished = false;      // the worker said it finished (or the supervisor ended it)
  std::string verdict;        // --retries: "failed", "flaky", "order-dependent"; "" otherwise
  std::vector<RetryAttempt> attempts;      // --retries: its other runs, oldest first
  std::optional<TestResources> resources;  // absent when the test did not finish in its worker
};

// How a sharded run split the collection (`--shard`), for the JSON report and `bulkhead merge`.
struct ShardAssignment {
  int index = 0;  // 0-based
  int total = 1;
  std::string provider;   // "GitLab", ..., "" for an explicit --shard I/N
  std::string found;      // "CI_NODE_INDEX=2, CI_NODE_TOTAL=4", "--shard 2/4"
  std::string digest;     // equal in every shard of one split (collection + assignment)
  std::string durations;  // where the split's durations came from, "none" (by count)
  std::vector<std::string> collection;  // every collected node id, in order (all shards')
  std::vector<int> shard_of;            // per collected index: its shard, 0-based
  std::vector<double> expected_s;       // per shard: expected seconds
};

// One shard of the merged run, as the reports list it.
struct ShardSummary {
  int index = 0;  // 1-based
  int total = 0;
  std::string source;  // "GitLab: CI_NODE_INDEX=2, CI_NODE_TOTAL=4", "--shard 2/4"
  std::string file;    // its report, "" when missing
  std::string run_id;
  std::size_t tests = 0;  // tests the split gave it
  int exit_code = -1;     // -1: no report
  double start_time = 0;
  double duration = 0;
  std::string problem;  // "reported nothing (its report is missing)", ""
};

// Settings of the run, echoed into the JSON report and the header.
struct RunInfo {
  std::string run_id;
  std::string profile;
  std::string cgroup_mode;
  int workers = 0;
  std::string python;  // interpreter path
  std::string python_version;
  std::string pytest_version;
  std::string rootdir;
  std::vector<std::string> pytest_args;
  double start_time = 0;  // unix time
  double duration = 0;    // seconds
  int exit_code = 0;
  std::vector<std::string> isolation_missing;
  std::optional<ShardAssignment> shard;  // --shard: this run's share of the collection
  std::vector<ShardSummary> shards;      // `bulkhead merge`: the shards it merged
};

}  // namespace bulkhead

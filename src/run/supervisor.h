// The run's event loop: one epoll over every worker's channel, output pipes and pidfd, a
// timerfd for per-test and session deadlines, and a signalfd for SIGINT/SIGTERM. Hands tests
// out through the Scheduler, replaces dead workers, and ends every collected test exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"
#include "src/host/host_session.h"
#include "src/report/result_store.h"
#include "src/report/terminal.h"
#include "src/report/test_model.h"
#include "src/run/protocol.h"
#include "src/run/run_observer.h"
#include "src/run/scheduler.h"
#include "src/run/worker_hooks.h"
#include "src/run/worker_process.h"

namespace bulkhead {

// Exit status when workers collected different tests (documented in docs/cli.md): pytest's
// "internal error", as pytest-xdist ends such a run.
constexpr int kExitCollectionMismatch = 3;

struct SupervisorSettings {
  int workers = 1;
  DistMode dist = DistMode::Load;
  std::optional<double> test_timeout_s;     // --timeout
  std::optional<double> profile_timeout_s;  // the profile's limit: after pytest-timeout's ini
  std::string test_timeout_source;          // "--timeout", "profile default", ...
  std::optional<double> session_timeout_s;  // --session-timeout
  int max_worker_restart = 4;
  bool live_output = false;         // -s: worker output shown live, prefixed
  bool live_progress = false;       // --progress line: the live status line
  bool terminal_keys = false;       // take keys from stdin when it is our terminal (`t`)
  bool logs_kept = false;           // worker logs outlive the run: reports may point at them
  double stack_dump_grace_s = 1.0;  // between SIGUSR1 and the kill
  double exit_grace_s = 10.0;       // a worker that said `done` must exit by then
  // Called once with the agreed collection: which tests this run runs (a shard's) and their
  // expected durations. Unset: all of them, durations unknown.
  std::function<WorkPlan(const std::vector<ScheduledItem>&)> plan_work;
  // Zygote mode (src/run/zygote.h): one process collects, every worker is forked from it.
  // `zygote_refused`: why not, said once at start when set (the workers are spawned).
  bool zygote = false;
  std::string zygote_refused;
  bool isolate_units = false;  // --isolate test|file: every unit in a fresh sandbox
  // Zygote mode: each slot's next sandbox is made ahead and idles until needed (--spares,
  // src/run/supervisor_spares.cc): always, or once a worker has died (a suite that crashed once
  // may again; one that never does pays nothing).
  enum class Spares { Off, AfterADeath, Always };
  Spares spares = Spares::Off;
  HostLaunch host;               // the host session, started when a worker needs it
  WorkerHooks* hooks = nullptr;  // told of each worker's start and end (forwards)
  // --retries: a run that ends failed (status 1) leaves its closing line to the retries, which
  // count the tests' final results (RunResult::deferred_closing).
  bool defer_closing_line = false;
  RunObserver* observer = nullptr;  // told of the collection and each test's end (the record)
};

struct RunResult {
  ResultStore
      records;  // what the reports get, each collected test once (src/report/result_store.h)
  int exit_code = 0;
  protocol::WorkerSettings worker_settings;
  std::string pytest_version;
  std::string python_version;
  std::optional<protocol::PytestCacheFacts> pytest_cache;  // as the first worker saw it
  std::vector<std::string> collected;                      // node ids of the collection
  bool host_session_finished = false;  // it ran pytest's session finish (wrote the cache)
  // SupervisorSettings::defer_closing_line: what the closing line counts besides `records`.
  std::optional<SummaryInput> deferred_closing;
};

class Supervisor {
 public:
  // Blocks SIGINT/SIGTERM for the signalfd (restored by the destructor).
  Supervisor(sandbox::Sandbox& sandbox, WorkerLaunch launch, SupervisorSettings settings,
             Terminal& terminal);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs the whole session; returns when every worker has exited.
  RunResult run();

 private:
  struct Slot;
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace bulkhead

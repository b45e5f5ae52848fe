// The host session: pytest-xdist's controller, as a pytest process on the host (outside every
// sandbox), started only when a worker asks for it. The supervisor feeds it what the workers
// report, in batches over a socket, without ever blocking its loop on it; it answers each
// worker's `pytest_configure_node` (workerinput), may ask the run to stop (--sw), and at the
// end runs pytest's session finish and returns the sections plugins add to the terminal
// summary (the coverage table). A slow or dead host session is reported and the run goes on.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/fd.h"
#include "src/run/protocol.h"

namespace bulkhead {

// The worker events the host session replays through pytest's hooks.
inline bool host_wants(const protocol::Event& event) {
  return std::holds_alternative<protocol::ReportEvent>(event) ||
         std::holds_alternative<protocol::StartEvent>(event) ||
         std::holds_alternative<protocol::FinishedEvent>(event) ||
         std::holds_alternative<protocol::CollectedEvent>(event) ||
         std::holds_alternative<protocol::WarningEvent>(event) ||
         std::holds_alternative<protocol::WorkerOutputEvent>(event);
}

struct HostLaunch {
  std::string off_reason;         // set: never started, workers are told so ("--controller off")
  std::vector<std::string> argv;  // python -m pytest -p bulkhead_controller ... <pytest args>
  std::vector<std::string> env;   // KEY=VALUE, the workers' environment minus their own keys
  std::string cwd;
  std::string log_path;           // its stdout and stderr
  double start_timeout_s = 120;   // to load plugins and conftests and say `ready`
  double finish_timeout_s = 300;  // for pytest's session finish (coverage combine, reports)
  std::size_t max_backlog_bytes = std::size_t{256} << 20;  // unsent events before giving up
};

// What the host session said at the end.
struct HostSummary {
  bool finished = false;  // it answered: its caches and reports are written
  std::string sections;   // what plugins added to pytest's terminal summary, as text
  int exit_status = 0;    // pytest's, from its view (pytest-cov --cov-fail-under makes it 1)
  std::vector<std::pair<std::string, std::string>> warnings;  // (nodeid, text) it raised
  std::vector<std::string> errors;  // hook failures it reported (INTERNALERROR-worthy)
  std::string problem;              // why there is no summary ("" when finished)
};

class HostSession {
 public:
  // What the supervisor does with the host session's answers.
  struct Handler {
    // workerinput for the worker in `slot` started as `generation`; `data_json` is "null"
    // when the host session cannot serve it.
    std::function<void(int slot, uint32_t generation, const std::string& data_json)> workerinput;
    std::function<void(const std::string& reason)> stop;     // its session wants the run stopped
    std::function<void(const std::string& message)> notice;  // one line for the terminal
  };

  explicit HostSession(HostLaunch launch);
  ~HostSession();  // kills and reaps the process if still running
  HostSession(const HostSession&) = delete;
  HostSession& operator=(const HostSession&) = delete;

  // A worker needs the host session (starts it on the first call). With `wait`, the worker
  // blocks until handler.workerinput answers for (slot, generation).
  void need(int slot, uint32_t generation, const std::vector<std::string>& reasons, bool wait,
            const Handler& handler);
  bool running() const { return pid_ > 0 && !failed_; }
  // Whether to forward this worker event: host_wants(), minus what the host session said at
  // start that no plugin there would see (start/finish, passing setup/teardown, warnings).
  bool wants(const protocol::Event& event) const;
  // The sentence for the header: why it runs, and that conftest code runs unsandboxed.
  const std::string& notice() const { return notice_; }

  // The fd to watch for EPOLLIN in the supervisor's loop (an epoll set of its own), and what
  // to do when it is ready.
  int fd() const { return epoll_.get(); }
  void on_ready(const Handler& handler);

  // Forwards a worker's event line (collected, report, start, finished, warning, workeroutput).
  void forward(int slot, uint32_t generation, std::string_view line);
  // The worker ended: `error` is "" when it finished cleanly (its workeroutput was forwarded).
  void node_down(int slot, uint32_t generation, const std::string& error);
  // A test its worker never reported the end of (timeout, crash, OOM): a failed report.
  void lost(int slot, uint32_t generation, const std::string& nodeid, const std::string& when,
            const std::string& message, double duration);

  // After the last worker: sends `finish` and waits (bounded; `interrupt_fd` readable aborts)
  // for pytest's session finish to write the caches and reports and return the summary.
  HostSummary finish(const std::string& interrupted, int tests_failed, int interrupt_fd,
                     const Handler& handler);

 private:
  void start(const std::vector<std::string>& reasons, const Handler& handler);
  void fail(const std::string& why, const Handler& handler);
  void queue(std::string line);
  bool flush();  // true when bytes remain queued
  void update_interest();
  bool read_lines(const Handler& handler);  // false at end of stream
  void handle_line(std::string_view line, const Handler& handler);
  bool known(int slot, uint32_t generation) const;
  std::string log_tail() const;

  HostLaunch launch_;
  pid_t pid_ = -1;
  UniqueFd socket_;
  UniqueFd epoll_;
  UniqueFd timer_;  // the start deadline
  bool failed_ = false;
  bool ready_ = false;
  bool want_out_ = false;
  bool skip_start_finished_ = false;
  bool skip_passing_setup_teardown_ = false;
  bool skip_warnings_ = false;
  std::string notice_;
  std::string outbox_;
  protocol::LineSplitter splitter_;
  std::vector<std::pair<int, uint32_t>> waiting_;  // workers blocked on their workerinput
  std::vector<std::pair<int, uint32_t>> nodes_;    // workers it has heard of
  std::optional<HostSummary> summary_;
  std::vector<std::string> errors_;
};

}  // namespace bulkhead

// The zygote, supervisor side: one sandboxed pytest process (the worker plugin in zygote mode,
// src/python/bulkhead_zygote.py) that imports, configures and collects once, then forks every
// worker, each into a sandbox of its own (sandbox/forked.h). Started through Sandbox::spawn
// like a worker; talks on a worker's channel until its collection is in, then on a control
// socket (SOCK_SEQPACKET): it answers whether it may fork ({"ready": true} or a reason), and
// takes {"cmd": "fork", "name", "env"} requests with the worker's fds attached.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/fd.h"
#include "sandbox/sandbox.h"
#include "src/run/protocol.h"
#include "src/run/worker_process.h"

namespace bulkhead {

// --zygote: on (fall back to spawning, saying why, where it cannot work), off, auto (on when
// nothing asks for spawning; the same as on today).
enum class ZygoteMode { Off, On, Auto };

// What the collection phase ended with.
struct ZygoteCollection {
  enum class Outcome { Ready, Refused, Died, Interrupted, Deadline };
  Outcome outcome = Outcome::Died;
  std::optional<protocol::CollectedEvent> collected;
  std::vector<protocol::WarningEvent> warnings;
  std::vector<std::string> internal_errors;
  std::string reason;  // Refused: why it will not fork; Died: how it ended, its stderr's tail
  int signal = 0;      // Interrupted: SIGINT or SIGTERM
  int exit_code = -1;  // Died: its exit status, if it exited
};

class Zygote {
 public:
  // Spawns the zygote's sandbox (named "zygote") with gw0's environment; `varying` lists the
  // variables whose values differ between workers (reads of them at import refuse forking).
  // Throws on failure.
  Zygote(sandbox::Sandbox& sandbox, const WorkerLaunch& launch,
         const std::vector<std::string>& varying);
  ~Zygote();  // asks it to exit, then kills and reaps what is left
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // Blocks until the zygote has collected and said whether it forks, or died, or `signal_fd`
  // (a signalfd) became readable, or `deadline` passed. Its output goes to its log;
  // `live(stream, data)` sees it too when set.
  ZygoteCollection collect(int signal_fd,
                           std::optional<std::chrono::steady_clock::time_point> deadline,
                           const std::function<void(int, std::string_view)>& live);

  bool alive();
  // Forks a worker: the request and the fds of `spec` (stdout, stderr, extra fds: channel,
  // stacks, log) go to the zygote; the child is adopted (Sandbox::adopt). Throws on failure.
  std::unique_ptr<sandbox::Child> fork(const sandbox::SpawnSpec& spec);
  // The same in two steps: sends the request (the zygote serves them in order) and returns
  // what adopts the child later, once PendingFork::fd() is readable. Throws on failure.
  std::unique_ptr<PendingFork> request(const sandbox::SpawnSpec& spec);

  const std::string& log_path() const { return log_path_; }

 private:
  bool read_output(int stream, const std::function<void(int, std::string_view)>& live);
  std::string stderr_tail() const;

  sandbox::Sandbox& sandbox_;
  std::string log_path_;
  UniqueFd channel_, control_, stdout_, stderr_, log_, stacks_;
  std::unique_ptr<sandbox::Child> child_;
  protocol::LineSplitter splitter_;
  std::string tail_;
};

// Variables whose values differ between the workers' environments (names only).
std::vector<std::string> varying_variables(const WorkerLaunch& launch);

}  // namespace bulkhead

// One pytest worker: its sandbox Child, its channel socket (fd 3 inside), its stdout/stderr
// pipes copied into a per-worker log file with a bounded stderr tail, and the file its
// faulthandler writes stack dumps to (fd 4 inside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/fd.h"
#include "sandbox/sandbox.h"
#include "src/run/protocol.h"

namespace bulkhead {

// A sandbox requested and not yet ours (a zygote's fork in flight, src/run/zygote.h). Dropped
// before adopt(): the request is abandoned (its init exits) and its cgroup removed.
class PendingFork {
 public:
  virtual ~PendingFork() = default;
  virtual int fd() const = 0;  // readable once the child's init has said who it is
  // Takes the child: its cgroup, its release; then waits for the rest of its init's setup
  // (`wait_ready`), or leaves that to Child::setup_done(). Throws on failure.
  virtual std::unique_ptr<sandbox::Child> adopt(bool wait_ready) = 0;
};

// How to start any worker of this run. Everything per-worker (name, env vars, fds) is derived
// from it by WorkerProcess; a later fork-after-collect mode would replace only the spawn.
struct WorkerLaunch {
  std::vector<std::string> argv;                     // python -m pytest -p bulkhead_worker ...
  std::vector<std::string> env;                      // the user's env, minus profile.env_unset
  std::map<std::string, std::string> env_templates;  // profile env, expanded per worker
  std::string cwd;
  std::string project_dir;
  std::vector<std::string> visible_paths;  // interpreter, sys.path, plugin: kept visible
  std::string run_id;
  std::string run_dir;        // logs and stack dumps: <run_dir>/gw<i>.log, gw<i>.stacks
  int worker_count = 1;       // worker slots this run starts
  int first_worker = 0;       // slot s is worker gw<first_worker + s> (--replay-worker)
  int announced_workers = 0;  // PYTEST_XDIST_WORKER_COUNT, {worker_count}; 0: worker_count
  uint64_t output_cap_bytes = 1 << 20;
  int columns = 80;
  std::string leaks = "warn";  // --leaks: the worker's leak checks (BULKHEAD_LEAKS)
  std::string zygote_library;  // libbulkhead_zygote.so (src/run/zygote.h)
  // Starts a worker's sandbox instead of Sandbox::spawn: a zygote's fork (src/run/zygote.h).
  std::function<std::unique_ptr<sandbox::Child>(const sandbox::SpawnSpec&)> fork;
  // The same fork in two steps, for a spare (a slot's next sandbox made ahead): the request now,
  // the adoption once PendingFork::fd() is readable.
  std::function<std::unique_ptr<PendingFork>(const sandbox::SpawnSpec&)> request_fork;
  std::vector<sandbox::ListenerSpec> listeners;  // made in every worker's sandbox (forwards)
  std::map<int, std::map<std::string, std::string>> slot_env;  // by slot: from its setup
};

// A run-dir file (logs, stack dumps), close-on-exec, mode 0644. Throws SysError.
UniqueFd open_run_file(const std::string& path, int flags);
// Writes all of `data`, retrying on EINTR; gives up quietly on an error (logs are best effort).
void write_all(int fd, std::string_view data);
// Reads a non-blocking pipe into `sink` until it would block (true) or ends (false; `fd` is
// then reset).
bool drain_output(UniqueFd& fd, const std::function<void(std::string_view)>& sink);

// The worker id of `slot` ("gw3") and the worker count the workers are told.
std::string worker_name(const WorkerLaunch& launch, int slot);
int announced_worker_count(const WorkerLaunch& launch);

// The complete environment of worker `slot` (worker_name): the user's, the expanded profile
// templates, what the slot's setup wrote, and bulkhead's own variables.
std::vector<std::string> worker_environment(const WorkerLaunch& launch, int slot);
// Writes as much of `outbox` to the non-blocking stream socket `fd` as it takes now. Returns
// true when bytes remain (wait for EPOLLOUT); a closed peer drops them and returns false.
bool flush_outbox(int fd, std::string& outbox);

class WorkerProcess {
 public:
  // Starts worker `slot` (worker_name); `incarnation` counts its restarts. Throws on failure.
  WorkerProcess(sandbox::Sandbox& sandbox, const WorkerLaunch& launch, int slot, int incarnation);
  // A spare: sandbox `incarnation` of `slot`, requested through launch.request_fork while the
  // slot's current one still runs (its own cgroup leaf, gw<i>-<incarnation>). It is adopted by
  // adopt() and shows nothing (log marker, cleared stack dumps) until take_over().
  struct Spare {};
  WorkerProcess(const WorkerLaunch& launch, int slot, int incarnation, Spare);
  ~WorkerProcess();  // the Child's destructor kills and reaps what is left
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  int slot() const { return slot_; }
  // A spare on its way: its request in flight (the zygote forks it), then adopted and setting
  // up its sandbox. `starting_fd()` becomes readable when advance() can take the next step;
  // advance() returns true once it is ready (then starting_fd() is -1). finish() waits for
  // what is left. Both throw when it failed.
  int starting_fd() const;
  bool requested() const { return pending_ != nullptr; }  // the zygote has not forked it yet
  bool advance();
  void finish();
  // An adopted spare becomes the slot's worker: its marker in the log (with `note`), the last
  // sandbox's stack dumps gone.
  void take_over(const std::string& note);
  const std::string& name() const { return name_; }
  sandbox::Child& child() { return *child_; }
  const std::string& log_path() const { return log_path_; }

  int channel_fd() const { return channel_.get(); }
  int stdout_fd() const { return stdout_.get(); }
  int stderr_fd() const { return stderr_.get(); }
  int pidfd() const { return child_->pidfd(); }

  // Reads what the channel has; on_line(std::string_view) per complete line. Returns false at
  // end of stream (then closes our end). Throws protocol::ProtocolError on an oversized line.
  // Stops after a short read unless `until_empty` (then reads until EAGAIN or the end).
  template <typename OnLine>
  bool read_channel(OnLine&& on_line, bool until_empty = false);
  // Longest channel line accepted from now on (protocol::event_line_cap after `collected`).
  void set_line_cap(std::size_t bytes) { splitter_.set_max_line(bytes); }
  // Bytes of an unterminated last line (a worker cut off mid-write).
  std::string_view channel_partial() const { return splitter_.partial(); }

  // Copies what stdout (1) or stderr (2) has into the log (and the stderr tail); `live` gets
  // the bytes too when set. Returns false at end of stream (then closes it).
  bool read_output(int stream, const std::function<void(std::string_view)>& live);

  // Queues a command; writes as much as the socket takes now. Returns true when bytes remain
  // queued (wait for EPOLLOUT and call flush()). A closed peer drops the command.
  bool send(std::string_view line);
  bool flush();  // true when bytes remain queued

  std::string stderr_tail() const;                   // last few KiB of stderr, whole lines
  std::string read_stacks(uint64_t from = 0) const;  // faulthandler dumps from byte `from` on
  uint64_t stacks_size() const;  // bytes of dumps so far (an fstat: cheap to poll)

 private:
  void capture(int stream, std::string_view data);
  struct TheirEnds {  // the worker's ends of its channel, pipes and log, until it has them
    UniqueFd channel, out, err, log;
  };
  sandbox::SpawnSpec prepare(const WorkerLaunch& launch, TheirEnds& theirs, bool spare);
  void mark_restart(const std::string& note);

  int slot_;
  int incarnation_;
  std::string name_;
  std::string log_path_;
  std::string stacks_path_;
  UniqueFd channel_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  UniqueFd log_;
  UniqueFd stacks_;
  std::unique_ptr<sandbox::Child> child_;
  std::unique_ptr<PendingFork> pending_;  // a spare's request, until adopted
  protocol::LineSplitter splitter_;
  std::string outbox_;
  std::string tail_;
};

template <typename OnLine>
bool WorkerProcess::read_channel(OnLine&& on_line, bool until_empty) {
  char buffer[65536];
  while (channel_) {
    const ssize_t got = ::read(channel_.get(), buffer, sizeof buffer);
    if (got > 0) {
      splitter_.feed(std::string_view(buffer, static_cast<std::size_t>(got)), on_line);
      // A short read took all there was: the poll says when more comes, and a read that
      // would only say EAGAIN is saved (one a wake-up).
      if (!until_empty && static_cast<std::size_t>(got) < sizeof buffer) return true;
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    channel_.reset();  // end of stream or a dead peer
    return false;
  }
  return false;
}

}  // namespace bulkhead

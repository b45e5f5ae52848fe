// Starting one sandboxed pytest worker and moving bytes to and from it (see worker_process.h).
#include "src/run/worker_process.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/error.h"

namespace bulkhead {
namespace {

constexpr std::size_t kTailBytes = 8 * 1024;
constexpr std::size_t kStacksLimit = 1 << 20;

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl(O_NONBLOCK)");
}

}  // namespace

UniqueFd open_run_file(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (!fd) throw_errno("open(" + path + ")");
  return fd;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t wrote = ::write(fd, data.data(), data.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return;  // a full disk must not stop the run; the log is best effort
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
}

std::string worker_name(const WorkerLaunch& launch, int slot) {
  return "gw" + std::to_string(launch.first_worker + slot);
}

int announced_worker_count(const WorkerLaunch& launch) {
  return launch.announced_workers > 0 ? launch.announced_workers : launch.worker_count;
}

std::vector<std::string> worker_environment(const WorkerLaunch& launch, int slot) {
  const std::string name = worker_name(launch, slot);
  const std::string count = std::to_string(announced_worker_count(launch));
  const std::map<std::string, std::string> vars = {
      {"worker", name},
      {"worker_index", std::to_string(launch.first_worker + slot)},
      {"worker_count", count},
      {"run_id", launch.run_id},
  };
  std::map<std::string, std::string> ours = {
      {"BULKHEAD_WORKER", name},
      {"PYTEST_XDIST_WORKER", name},
      {"PYTEST_XDIST_WORKER_COUNT", count},
      {"PYTEST_XDIST_TESTRUNUID", launch.run_id},
      {"BULKHEAD_RUN_ID", launch.run_id},
      {"BULKHEAD_CHANNEL_FD", "200"},  // high, out of the way of the tests' own fd numbers
      {"BULKHEAD_STACKS_FD", "201"},
      {"BULKHEAD_LOG_FD", "202"},
      {"BULKHEAD_COUNTER_FDS", "203"},  // 203 memory peak, 204 CPU time (SpawnSpec::counter_fds)
      {"BULKHEAD_OUTPUT_CAP", std::to_string(launch.output_cap_bytes)},
      {"BULKHEAD_LINE_CAP", std::to_string(protocol::event_line_cap(launch.output_cap_bytes))},
      {"BULKHEAD_COLLECTION_LINE_CAP", std::to_string(protocol::kCollectionLineCap)},
      {"BULKHEAD_COLUMNS", std::to_string(launch.columns)},
      {"BULKHEAD_LEAKS", launch.leaks},
  };
  for (const auto& [key, value] : launch.env_templates) {
    ours[key] = sandbox::expand_template(value, vars);
  }
  if (auto written = launch.slot_env.find(slot); written != launch.slot_env.end()) {
    for (const auto& [key, value] : written->second) ours[key] = value;
  }
  std::vector<std::string> env;
  env.reserve(launch.env.size() + ours.size());
  for (const std::string& entry : launch.env) {
    const std::string key = entry.substr(0, entry.find('='));
    if (ours.count(key) == 0) env.push_back(entry);
  }
  for (const auto& [key, value] : ours) env.push_back(key + "=" + value);
  return env;
}

WorkerProcess::WorkerProcess(sandbox::Sandbox& sandbox, const WorkerLaunch& launch, int slot,
                             int incarnation)
    : slot_(slot),
      incarnation_(incarnation),
      name_(worker_name(launch, slot)),
      log_path_(launch.run_dir + "/" + name_ + ".log"),
      stacks_path_(launch.run_dir + "/" + name_ + ".stacks") {
  TheirEnds theirs;
  const sandbox::SpawnSpec spec = prepare(launch, theirs, false);
  if (incarnation > 0) mark_restart("");
  child_ = launch.fork ? launch.fork(spec) : sandbox.spawn(spec);
  // Our copies of the worker's ends close here, so end-of-stream means the worker is gone.
}

WorkerProcess::WorkerProcess(const WorkerLaunch& launch, int slot, int incarnation, Spare)
    : slot_(slot),
      incarnation_(incarnation),
      name_(worker_name(launch, slot)),
      log_path_(launch.run_dir + "/" + name_ + ".log"),
      stacks_path_(launch.run_dir + "/" + name_ + ".stacks") {
  if (!launch.request_fork) throw UserError(name_ + ": a spare needs the zygote");
  TheirEnds theirs;
  sandbox::SpawnSpec spec = prepare(launch, theirs, true);
  spec.cgroup_name = name_ + "-" + std::to_string(incarnation);
  pending_ = launch.request_fork(spec);
}

sandbox::SpawnSpec WorkerProcess::prepare(const WorkerLaunch& launch, TheirEnds& theirs,
                                          bool spare) {
  int channel_pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel_pair) != 0) {
    throw_errno("socketpair(" + name_ + " channel)");
  }
  channel_.reset(channel_pair[0]);
  theirs.channel.reset(channel_pair[1]);
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe2(" + name_ + " stdout)");
  stdout_.reset(out_pipe[0]);
  theirs.out.reset(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("pipe2(" + name_ + " stderr)");
  stderr_.reset(err_pipe[0]);
  theirs.err.reset(err_pipe[1]);
  set_nonblocking(channel_.get());
  set_nonblocking(stdout_.get());
  set_nonblocking(stderr_.get());

  log_ =
      open_run_file(log_path_, O_WRONLY | O_CREAT | O_APPEND | (incarnation_ == 0 ? O_TRUNC : 0));
  // Each incarnation gets a fresh dump file (a spare's is emptied when it takes over: the
  // current worker still writes there); the worker appends to its own descriptor.
  stacks_ = open_run_file(stacks_path_, O_RDWR | O_CREAT | O_APPEND | (spare ? 0 : O_TRUNC));
  theirs.log = open_run_file(log_path_, O_WRONLY | O_APPEND);

  sandbox::SpawnSpec spec;
  spec.name = name_;
  spec.argv = launch.argv;
  spec.env = worker_environment(launch, slot_);
  spec.cwd = launch.cwd;
  spec.project_dir = launch.project_dir;
  spec.visible_paths = launch.visible_paths;
  spec.stdout_fd = theirs.out.get();
  spec.stderr_fd = theirs.err.get();
  spec.extra_fds = {theirs.channel.get(), stacks_.get(), theirs.log.get()};
  spec.extra_fds_base = 200;
  spec.counter_fds = true;
  spec.listeners = launch.listeners;
  return spec;
}

int WorkerProcess::starting_fd() const {
  if (pending_) return pending_->fd();
  return child_ ? child_->setup_fd() : -1;
}

bool WorkerProcess::advance() {
  if (pending_) {
    std::unique_ptr<PendingFork> pending = std::move(pending_);
    child_ = pending->adopt(false);
  }
  return child_->setup_done(false);
}

void WorkerProcess::finish() {
  if (pending_) {
    std::unique_ptr<PendingFork> pending = std::move(pending_);
    child_ = pending->adopt(true);
  }
  child_->setup_done(true);
}

void WorkerProcess::take_over(const std::string& note) {
  // Best effort, as the logs: dumps are read from the offset a request saw, never from 0.
  [[maybe_unused]] const int ignored = ::ftruncate(stacks_.get(), 0);
  mark_restart(note);
}

void WorkerProcess::mark_restart(const std::string& note) {
  write_all(log_.get(), "\n---- bulkhead: " + name_ + " restarted (replacement " +
                            std::to_string(incarnation_) + note + ") ----\n");
}

WorkerProcess::~WorkerProcess() = default;

void WorkerProcess::capture(int stream, std::string_view data) {
  write_all(log_.get(), data);
  if (stream != 2) return;
  tail_.append(data);
  if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
}

bool drain_output(UniqueFd& fd, const std::function<void(std::string_view)>& sink) {
  char buffer[65536];
  while (fd) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got > 0) {
      sink(std::string_view(buffer, static_cast<std::size_t>(got)));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    fd.reset();
    return false;
  }
  return false;
}

bool WorkerProcess::read_output(int stream, const std::function<void(std::string_view)>& live) {
  return drain_output(stream == 1 ? stdout_ : stderr_, [&](std::string_view data) {
    capture(stream, data);
    if (live) live(data);
  });
}

bool WorkerProcess::send(std::string_view line) {
  if (!channel_) return false;
  outbox_.append(line);
  return flush();
}

bool flush_outbox(int fd, std::string& outbox) {
  while (!outbox.empty() && fd >= 0) {
    const ssize_t wrote = ::send(fd, outbox.data(), outbox.size(), MSG_NOSIGNAL);
    if (wrote > 0) {
      outbox.erase(0, static_cast<std::size_t>(wrote));
      continue;
    }
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    outbox.clear();  // the peer is gone; whoever watches it tells the rest
    return false;
  }
  return false;
}

bool WorkerProcess::flush() { return flush_outbox(channel_.get(), outbox_); }

std::string WorkerProcess::stderr_tail() const {
  std::string_view tail(tail_);
  if (tail.size() > kTailBytes) {
    tail.remove_prefix(tail.size() - kTailBytes);
    if (auto newline = tail.find('\n'); newline != std::string_view::npos) {
      tail.remove_prefix(newline + 1);
    }
  }
  return std::string(tail);
}

uint64_t WorkerProcess::stacks_size() const {
  struct stat info {};
  if (::fstat(stacks_.get(), &info) != 0) return 0;
  return static_cast<uint64_t>(info.st_size);
}

std::string WorkerProcess::read_stacks(uint64_t from) const {
  std::string out;
  char buffer[65536];
  auto offset = static_cast<off_t>(from);
  while (out.size() < kStacksLimit) {
    const ssize_t got = ::pread(stacks_.get(), buffer, sizeof buffer, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    out.append(buffer, static_cast<std::size_t>(got));
    offset += got;
  }
  return out;
}

}  // namespace bulkhead

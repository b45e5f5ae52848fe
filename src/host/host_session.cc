// The host session's process and its socket (see host_session.h).
#include "src/host/host_session.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sandbox/error.h"
#include "src/run/worker_process.h"

namespace bulkhead {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kChildFd = 3;
constexpr std::size_t kLogTail = 2048;

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

std::string node_prefix(int slot, uint32_t generation) {
  return "{\"node\":" + std::to_string(slot) + ",\"gen\":" + std::to_string(generation);
}

std::string json_string(const std::string& text) { return nlohmann::json(text).dump(); }

// Runs in the forked child: fd 3 is the socket, stdout/stderr the log, its own process group
// (a terminal's ^C is the supervisor's to handle), killed with the supervisor.
[[noreturn]] void exec_child(const HostLaunch& launch, int socket_fd, int log_fd) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0 ||
      ::dup2(socket_fd, kChildFd) < 0 || ::chdir(launch.cwd.c_str()) != 0) {
    ::_exit(127);
  }
  std::vector<char*> argv;
  for (const std::string& arg : launch.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (const std::string& entry : launch.env) env.push_back(const_cast<char*>(entry.c_str()));
  env.push_back(nullptr);
  ::execve(argv[0], argv.data(), env.data());
  ::_exit(127);
}

void arm(int timer_fd, double seconds) {
  itimerspec spec{};
  const auto nanos = static_cast<long long>(seconds * 1e9);
  spec.it_value.tv_sec = static_cast<time_t>(nanos / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(nanos % 1000000000);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  ::timerfd_settime(timer_fd, 0, &spec, nullptr);
}

}  // namespace

HostSession::HostSession(HostLaunch launch) : launch_(std::move(launch)) {}

HostSession::~HostSession() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void HostSession::need(int slot, uint32_t generation, const std::vector<std::string>& reasons,
                       bool wait, const Handler& handler) {
  if (!known(slot, generation)) nodes_.emplace_back(slot, generation);
  if (pid_ < 0 && !failed_) start(reasons, handler);
  if (!wait) return;
  if (failed_) {
    handler.workerinput(slot, generation, "null");
    return;
  }
  waiting_.emplace_back(slot, generation);
  queue(node_prefix(slot, generation) + ",\"cmd\":\"node_up\"}\n");
}

void HostSession::start(const std::vector<std::string>& reasons, const Handler& handler) {
  const std::string why = join(reasons, ", ");
  if (!launch_.off_reason.empty()) {
    failed_ = true;
    handler.notice("bulkhead: the host session is off (" + launch_.off_reason + "), though " + why +
                   " needs it: what pytest-xdist's controller does for it is not done");
    return;
  }
  notice_ = "host session: " + why +
            " (conftest.py and plugins also run on the host, unsandboxed, as in pytest-xdist's "
            "controller)";
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    fail(std::string("socketpair: ") + std::strerror(errno), handler);
    return;
  }
  socket_.reset(pair[0]);
  UniqueFd child_end(pair[1]);
  UniqueFd log(::open(launch_.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log) {
    fail("open(" + launch_.log_path + "): " + std::strerror(errno), handler);
    return;
  }
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!epoll_ || !timer_) {
    fail(std::string("epoll/timerfd: ") + std::strerror(errno), handler);
    return;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    fail(std::string("fork: ") + std::strerror(errno), handler);
    return;
  }
  if (pid == 0) exec_child(launch_, child_end.get(), log.get());
  pid_ = pid;
  const int flags = ::fcntl(socket_.get(), F_GETFL);
  ::fcntl(socket_.get(), F_SETFL, flags | O_NONBLOCK);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = socket_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, socket_.get(), &event);
  event.data.fd = timer_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &event);
  arm(timer_.get(), launch_.start_timeout_s);
}

void HostSession::fail(const std::string& why, const Handler& handler) {
  if (failed_) return;
  failed_ = true;
  std::string message = "bulkhead: the host session (pytest-xdist's controller) " + why +
                        "; the run goes on without it (plugin sections, pytest's cache and "
                        "the coverage combine it does are missing)";
  const std::string tail = log_tail();
  if (!tail.empty()) message += "\n" + tail;
  handler.notice(message);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (epoll_ && socket_) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, socket_.get(), nullptr);
  socket_.reset();
  outbox_.clear();
  for (const auto& [slot, generation] : waiting_) handler.workerinput(slot, generation, "null");
  waiting_.clear();
}

bool HostSession::known(int slot, uint32_t generation) const {
  return std::find(nodes_.begin(), nodes_.end(), std::make_pair(slot, generation)) != nodes_.end();
}

void HostSession::queue(std::string line) {
  if (failed_ || !socket_) return;
  outbox_ += line;
  if (outbox_.size() > launch_.max_backlog_bytes) {
    // Nobody to tell from here; the next on_ready() reports it.
    outbox_.clear();
    errors_.push_back("it fell more than " + std::to_string(launch_.max_backlog_bytes >> 20) +
                      " MiB of events behind");
    ::kill(pid_, SIGKILL);
    return;
  }
  if (!want_out_) update_interest();
}

void HostSession::update_interest() {
  if (!socket_) return;
  want_out_ = !outbox_.empty();
  epoll_event event{};
  event.events = EPOLLIN | (want_out_ ? EPOLLOUT : 0u);
  event.data.fd = socket_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, socket_.get(), &event);
}

bool HostSession::flush() { return flush_outbox(socket_.get(), outbox_); }

void HostSession::forward(int slot, uint32_t generation, std::string_view line) {
  if (failed_ || pid_ < 0) return;
  if (!known(slot, generation)) nodes_.emplace_back(slot, generation);
  std::string message = node_prefix(slot, generation);
  message.reserve(message.size() + line.size() + 8);
  message += ",\"e\":";
  message.append(line);
  message += "}\n";
  queue(std::move(message));
}

void HostSession::node_down(int slot, uint32_t generation, const std::string& error) {
  if (failed_ || pid_ < 0 || !known(slot, generation)) return;
  queue(node_prefix(slot, generation) + ",\"cmd\":\"node_down\",\"error\":" +
        (error.empty() ? std::string("null") : json_string(error)) + "}\n");
}

void HostSession::lost(int slot, uint32_t generation, const std::string& nodeid,
                       const std::string& when, const std::string& message, double duration) {
  if (failed_ || pid_ < 0) return;
  nlohmann::json command = {{"node", slot},        {"gen", generation}, {"cmd", "lost"},
                            {"nodeid", nodeid},    {"when", when},      {"message", message},
                            {"duration", duration}};
  queue(command.dump() + "\n");
}

bool HostSession::wants(const protocol::Event& event) const {
  if (!host_wants(event)) return false;
  if (skip_start_finished_ && (std::holds_alternative<protocol::StartEvent>(event) ||
                               std::holds_alternative<protocol::FinishedEvent>(event))) {
    return false;
  }
  if (skip_warnings_ && std::holds_alternative<protocol::WarningEvent>(event)) return false;
  if (skip_passing_setup_teardown_) {
    if (const auto* report = std::get_if<protocol::ReportEvent>(&event)) {
      const PhaseReport& phase = report->report.phase;
      if (phase.when != "call" && phase.outcome == "passed") return false;
    }
  }
  return true;
}

void HostSession::on_ready(const Handler& handler) {
  if (!epoll_) return;
  epoll_event events[4];
  const int count = ::epoll_wait(epoll_.get(), events, 4, 0);
  for (int i = 0; i < count; ++i) {
    if (events[i].data.fd == timer_.get()) {
      uint64_t expirations = 0;
      [[maybe_unused]] auto ignored = ::read(timer_.get(), &expirations, sizeof expirations);
      if (!ready_ && !failed_) {
        fail("did not start within " + std::to_string(static_cast<int>(launch_.start_timeout_s)) +
                 " s",
             handler);
      }
      continue;
    }
    if (!socket_) continue;
    if (events[i].events & EPOLLOUT) {
      flush();
      update_interest();
    }
    if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (!read_lines(handler) && !summary_) {
        fail(errors_.empty() ? "exited" : "stopped: " + errors_.back(), handler);
      }
    }
  }
}

bool HostSession::read_lines(const Handler& handler) {
  char buffer[65536];
  while (socket_) {
    const ssize_t got = ::read(socket_.get(), buffer, sizeof buffer);
    if (got > 0) {
      try {
        splitter_.feed(std::string_view(buffer, static_cast<std::size_t>(got)),
                       [&](std::string_view line) { handle_line(line, handler); });
      } catch (const protocol::ProtocolError& error) {
        errors_.push_back(error.what());
        return false;
      }
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return false;
}

void HostSession::handle_line(std::string_view line, const Handler& handler) {
  if (line.empty()) return;
  const nlohmann::json event = nlohmann::json::parse(line, nullptr, false);
  if (!event.is_object()) {
    errors_.push_back("malformed line from the host session: " + std::string(line.substr(0, 120)));
    return;
  }
  const std::string kind = event.value("event", "");
  if (kind == "ready") {
    ready_ = true;
    if (auto skip = event.find("skip"); skip != event.end() && skip->is_array()) {
      for (const auto& what : *skip) {
        skip_start_finished_ |= what == "start_finished";
        skip_passing_setup_teardown_ |= what == "passing_setup_teardown";
        skip_warnings_ |= what == "warnings";
      }
    }
    itimerspec off{};  // the start deadline no longer applies
    ::timerfd_settime(timer_.get(), 0, &off, nullptr);
  } else if (kind == "workerinput") {
    const int slot = event.value("node", -1);
    const auto generation = event.value("gen", 0u);
    auto it = std::find(waiting_.begin(), waiting_.end(), std::make_pair(slot, generation));
    if (it == waiting_.end()) return;
    waiting_.erase(it);
    const auto data = event.find("data");
    handler.workerinput(slot, generation, data == event.end() ? "null" : data->dump());
  } else if (kind == "stop") {
    handler.stop(event.value("reason", "stopped by the host session"));
  } else if (kind == "error") {
    errors_.push_back("host session: " + event.value("text", ""));
  } else if (kind == "summary") {
    HostSummary summary;
    summary.finished = true;
    summary.sections = event.value("sections", "");
    summary.exit_status = event.value("exitstatus", 0);
    if (auto warnings = event.find("warnings"); warnings != event.end() && warnings->is_array()) {
      for (const auto& warning : *warnings) {
        if (!warning.is_object()) continue;
        summary.warnings.emplace_back(warning.value("nodeid", ""), warning.value("message", ""));
      }
    }
    summary_ = std::move(summary);
  }
}

HostSummary HostSession::finish(const std::string& interrupted, int tests_failed, int interrupt_fd,
                                const Handler& handler) {
  HostSummary result;
  if (pid_ < 0 || failed_) {
    result.problem = "not running";
    return result;
  }
  queue(nlohmann::json(
            {{"cmd", "finish"}, {"interrupted", interrupted}, {"testsfailed", tests_failed}})
            .dump() +
        "\n");
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(launch_.finish_timeout_s));
  bool open = true;
  while (open && !summary_ && !failed_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      fail("did not finish within " + std::to_string(static_cast<int>(launch_.finish_timeout_s)) +
               " s",
           handler);
      break;
    }
    pollfd fds[2] = {
        {socket_.get(), static_cast<short>(POLLIN | (outbox_.empty() ? 0 : POLLOUT)), 0},
        {interrupt_fd, POLLIN, 0}};
    const int ready = ::poll(fds, interrupt_fd >= 0 ? 2 : 1, static_cast<int>(left));
    if (ready < 0 && errno != EINTR) break;
    if (interrupt_fd >= 0 && (fds[1].revents & POLLIN)) {
      fail("was interrupted while finishing", handler);
      break;
    }
    if (fds[0].revents & POLLOUT) flush();
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) open = read_lines(handler);
  }
  if (!summary_ && !failed_)
    fail(errors_.empty() ? "exited" : "stopped: " + errors_.back(), handler);
  if (summary_) result = *summary_;
  result.errors = errors_;
  if (!result.finished && result.problem.empty()) result.problem = "no summary";
  // Its last hooks (pytest_unconfigure) may still run: a short grace, then the kill.
  if (pid_ > 0) {
    for (int waited = 0; waited < 100; ++waited) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      ::usleep(20000);
    }
  }
  return result;
}

std::string HostSession::log_tail() const {
  std::ifstream log(launch_.log_path, std::ios::binary);
  if (!log) return {};
  log.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(log.tellg());
  const std::size_t from = size > kLogTail ? size - kLogTail : 0;
  log.seekg(static_cast<std::streamoff>(from));
  std::string tail(size - from, '\0');
  log.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  if (from > 0) {
    if (auto newline = tail.find('\n'); newline != std::string::npos) tail.erase(0, newline + 1);
  }
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace bulkhead

// The zygote, supervisor side (see zygote.h): its sandbox, its collection, fork requests.
#include "src/run/zygote.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "sandbox/error.h"

namespace bulkhead {
namespace {

constexpr std::size_t kTailBytes = 8 * 1024;
constexpr int kControlFd = 203;  // in the zygote, after the worker's 200, 201, 202
constexpr int kSetupFd = 204;

// The forked children's setup, read once by the zygote from a sealed memfd.
UniqueFd setup_memfd(const std::string& json) {
  UniqueFd fd(::memfd_create("bulkhead-forked-setup", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw_errno("memfd_create(forked setup)");
  write_all(fd.get(), json);
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw_errno("lseek(forked setup)");
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  return fd;
}

std::map<std::string, std::string> as_map(const std::vector<std::string>& env) {
  std::map<std::string, std::string> out;
  for (const std::string& entry : env) {
    const auto equals = entry.find('=');
    out[entry.substr(0, equals)] = equals == std::string::npos ? "" : entry.substr(equals + 1);
  }
  return out;
}

// Sends `text` with `fds` attached as one SEQPACKET message.
void send_with_fds(int socket, const std::string& text, const std::vector<int>& fds) {
  struct iovec data = {const_cast<char*>(text.data()), text.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  struct msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::copy(fds.begin(), fds.end(), reinterpret_cast<int*>(CMSG_DATA(header)));
  ssize_t sent;
  do {
    sent = ::sendmsg(socket, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(text.size())) throw_errno("sendmsg(zygote fork request)");
}

}  // namespace

std::vector<std::string> varying_variables(const WorkerLaunch& launch) {
  std::vector<std::string> varying;
  if (launch.worker_count < 2) return varying;
  const auto first = as_map(worker_environment(launch, 0));
  const auto second = as_map(worker_environment(launch, 1));
  for (const auto& [key, value] : first) {
    auto other = second.find(key);
    if (other == second.end() || other->second != value) varying.push_back(key);
  }
  for (const auto& [key, value] : second) {
    if (!first.count(key)) varying.push_back(key);
  }
  return varying;
}

Zygote::Zygote(sandbox::Sandbox& sandbox, const WorkerLaunch& launch,
               const std::vector<std::string>& varying)
    : sandbox_(sandbox), log_path_(launch.run_dir + "/zygote.log") {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    throw_errno("socketpair(zygote channel)");
  }
  channel_.reset(pair[0]);
  UniqueFd their_channel(pair[1]);
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    throw_errno("socketpair(zygote control)");
  }
  control_.reset(pair[0]);
  UniqueFd their_control(pair[1]);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe2(zygote)");
  stdout_.reset(out[0]);
  UniqueFd their_stdout(out[1]);
  stderr_.reset(err[0]);
  UniqueFd their_stderr(err[1]);
  log_ = open_run_file(log_path_, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
  stacks_ = open_run_file(launch.run_dir + "/zygote.stacks", O_RDWR | O_CREAT | O_TRUNC | O_APPEND);
  UniqueFd their_log = open_run_file(log_path_, O_WRONLY | O_APPEND);

  sandbox::SpawnSpec spec;
  spec.name = "zygote";
  spec.argv = launch.argv;
  spec.env = worker_environment(launch, 0);
  std::string names;
  for (const std::string& name : varying) names += (names.empty() ? "" : ",") + name;
  const std::string& library = launch.zygote_library;
  spec.env.insert(spec.env.end(),
                  {"BULKHEAD_ZYGOTE=1", "BULKHEAD_ZYGOTE_FD=" + std::to_string(kControlFd),
                   "BULKHEAD_ZYGOTE_SETUP_FD=" + std::to_string(kSetupFd),
                   "BULKHEAD_ZYGOTE_LIB=" + library, "BULKHEAD_ZYGOTE_VARYING=" + names});
  spec.cwd = launch.cwd;
  spec.project_dir = launch.project_dir;
  spec.visible_paths = launch.visible_paths;
  spec.visible_paths.push_back(library.substr(0, library.rfind('/')));
  spec.stdout_fd = their_stdout.get();
  spec.stderr_fd = their_stderr.get();
  spec.zygote = true;
  // The children's sandboxes: as a worker's spawn would make them.
  sandbox::SpawnSpec worker = spec;
  worker.zygote = false;
  worker.listeners = launch.listeners;  // made by each child's init, not by the zygote's
  UniqueFd setup = setup_memfd(sandbox.forked_setup(worker));
  spec.extra_fds = {their_channel.get(), stacks_.get(), their_log.get(), their_control.get(),
                    setup.get()};
  spec.extra_fds_base = 200;
  for (int fd : {channel_.get(), stdout_.get(), stderr_.get()}) {
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
  child_ = sandbox.spawn(spec);
}

Zygote::~Zygote() {
  if (control_) {
    const std::string exit = R"({"cmd":"exit"})";
    ::send(control_.get(), exit.data(), exit.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  child_.reset();  // kills and reaps what is left
}

bool Zygote::alive() { return child_ && child_->running(); }

bool Zygote::read_output(int stream, const std::function<void(int, std::string_view)>& live) {
  return drain_output(stream == 1 ? stdout_ : stderr_, [&](std::string_view data) {
    write_all(log_.get(), data);
    if (stream == 2) {
      tail_.append(data);
      if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
    }
    if (live) live(stream, data);
  });
}

std::string Zygote::stderr_tail() const {
  std::string_view tail(tail_);
  if (tail.size() > kTailBytes) tail.remove_prefix(tail.size() - kTailBytes);
  return std::string(tail);
}

ZygoteCollection Zygote::collect(int signal_fd,
                                 std::optional<std::chrono::steady_clock::time_point> deadline,
                                 const std::function<void(int, std::string_view)>& live) {
  ZygoteCollection result;
  bool answered = false;
  while (!answered) {
    struct pollfd fds[6] = {{channel_.get(), POLLIN, 0},  {control_.get(), POLLIN, 0},
                            {stdout_.get(), POLLIN, 0},   {stderr_.get(), POLLIN, 0},
                            {child_->pidfd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    int timeout = -1;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        result.outcome = ZygoteCollection::Outcome::Deadline;
        return result;
      }
      timeout = static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30));
    }
    const int ready = ::poll(fds, 6, timeout);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw_errno("poll(zygote)");
    if (fds[5].revents & POLLIN) {
      result.outcome = ZygoteCollection::Outcome::Interrupted;
      return result;
    }
    if (fds[2].revents) read_output(1, live);
    if (fds[3].revents) read_output(2, live);
    if (fds[0].revents) {
      char buffer[65536];
      for (;;) {
        const ssize_t got = ::read(channel_.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        splitter_.feed(std::string_view(buffer, static_cast<std::size_t>(got)),
                       [&](std::string_view line) {
                         if (line.empty()) return;
                         protocol::Event event = protocol::decode_event(line);
                         if (auto* c = std::get_if<protocol::CollectedEvent>(&event)) {
                           result.collected = std::move(*c);
                         } else if (auto* w = std::get_if<protocol::WarningEvent>(&event)) {
                           result.warnings.push_back(std::move(*w));
                         } else if (auto* e = std::get_if<protocol::InternalErrorEvent>(&event)) {
                           result.internal_errors.push_back("zygote: " + e->text);
                         }
                       });
      }
    }
    if (fds[1].revents & POLLIN) {
      char buffer[4096];
      const ssize_t got = ::recv(control_.get(), buffer, sizeof buffer, 0);
      if (got > 0) {
        const auto answer = nlohmann::json::parse(
            std::string_view(buffer, static_cast<std::size_t>(got)), nullptr, false);
        if (answer.is_object() && answer.value("ready", false)) {
          result.outcome = ZygoteCollection::Outcome::Ready;
        } else {
          result.outcome = ZygoteCollection::Outcome::Refused;
          result.reason =
              answer.is_object() ? answer.value("reason", "no reason given") : "a malformed answer";
        }
        answered = true;
      }
    }
    if (!answered && (fds[4].revents & POLLIN)) {
      // Died: take what it wrote last, then say how it ended.
      read_output(1, live);
      read_output(2, live);
      const sandbox::ExitInfo info = child_->wait();
      result.outcome = ZygoteCollection::Outcome::Died;
      if (info.exited) result.exit_code = info.exit_code;
      result.reason = !info.setup_error.empty() ? info.setup_error
                      : info.exited ? "exited with status " + std::to_string(info.exit_code)
                                    : "killed by signal " + std::to_string(info.term_signal);
      const std::string tail = stderr_tail();
      if (!tail.empty()) result.reason += "\n" + tail;
      return result;
    }
  }
  if (result.outcome == ZygoteCollection::Outcome::Ready && !result.collected) {
    result.outcome = ZygoteCollection::Outcome::Refused;
    result.reason = "it said it was ready before its collection arrived";
  }
  return result;
}

namespace {

// One fork request sent: the child's handshake and status ends and its cgroup, until adopted.
class ZygoteFork : public PendingFork {
 public:
  ZygoteFork(sandbox::Sandbox& sandbox, std::string name,
             std::unique_ptr<sandbox::PreparedCgroup> cgroup, UniqueFd handshake, UniqueFd status,
             std::size_t listeners)
      : sandbox_(sandbox),
        name_(std::move(name)),
        cgroup_(std::move(cgroup)),
        handshake_(std::move(handshake)),
        status_(std::move(status)),
        listeners_(listeners) {}

  int fd() const override { return handshake_.get(); }

  std::unique_ptr<sandbox::Child> adopt(bool wait_ready) override {
    if (!handshake_) throw UserError("zygote fork: " + name_ + " was already adopted");
    return sandbox_.adopt(name_, std::move(cgroup_), std::move(handshake_), std::move(status_),
                          listeners_, wait_ready);
  }

 private:
  sandbox::Sandbox& sandbox_;
  std::string name_;
  std::unique_ptr<sandbox::PreparedCgroup> cgroup_;
  UniqueFd handshake_, status_;
  std::size_t listeners_;
};

}  // namespace

std::unique_ptr<sandbox::Child> Zygote::fork(const sandbox::SpawnSpec& spec) {
  return request(spec)->adopt(true);
}

std::unique_ptr<PendingFork> Zygote::request(const sandbox::SpawnSpec& spec) {
  if (spec.extra_fds.size() != 3) throw UserError("zygote fork: a worker has 3 extra fds");
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    throw_errno("socketpair(handshake)");
  }
  UniqueFd handshake(pair[0]), their_handshake(pair[1]);
  const int on = 1;
  if (::setsockopt(handshake.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    throw_errno("setsockopt(SO_PASSCRED)");
  }
  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0) throw_errno("pipe2(status)");
  UniqueFd status_read(status[0]), status_write(status[1]);
  nlohmann::json request = {{"cmd", "fork"}, {"name", spec.name}, {"env", spec.env}};
  // The child's cgroup exists before it does, so its counter fds go with the request (the
  // zygote installs them after the worker's three, as a spawn does).
  auto cgroup = sandbox_.prepare_cgroup(spec.cgroup_name.empty() ? spec.name : spec.cgroup_name);
  std::vector<UniqueFd> counters;
  if (spec.counter_fds) counters = cgroup->counter_fds();
  std::vector<int> fds = {their_handshake.get(), status_write.get(), spec.stdout_fd,
                          spec.stderr_fd,        spec.extra_fds[0],  spec.extra_fds[1],
                          spec.extra_fds[2]};
  for (const UniqueFd& fd : counters) fds.push_back(fd.get());
  send_with_fds(control_.get(), request.dump(), fds);
  return std::make_unique<ZygoteFork>(sandbox_, spec.name, std::move(cgroup), std::move(handshake),
                                      std::move(status_read), spec.listeners.size());
}

}  // namespace bulkhead

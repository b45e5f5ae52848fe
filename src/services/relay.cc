// The relay's thread: epoll over listeners and connection sockets, splice through a pipe per
// direction, edge-triggered (see relay.h).
#include "src/services/relay.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "sandbox/error.h"

namespace bulkhead::services {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kPipeBytes = 64 * 1024;  // the default pipe capacity
constexpr auto kBacklogRetry = std::chrono::milliseconds(5);

// What an epoll event belongs to: the low two bits of its tag; the id is above them.
enum Kind : uint64_t { kControl = 0, kListener = 1, kInside = 2, kOutside = 3 };

constexpr uint32_t kIn = EPOLLIN | EPOLLRDHUP | EPOLLET;

uint64_t tag(uint64_t id, Kind kind) { return (id << 2) | kind; }

void set_nodelay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // fails harmlessly on unix
}

// Closing with SO_LINGER 0 sends a TCP reset instead of a FIN.
void close_with_reset(UniqueFd& fd) {
  if (!fd) return;
  const linger hard{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  fd.reset();
}

struct Pipe {
  UniqueFd read, write;
  std::size_t pending = 0;  // bytes in the pipe
};

// One direction of a connection: bytes from `from` to `to` through `pipe`.
struct Direction {
  Pipe pipe;
  bool from_eof = false;  // read 0: the sender half-closed
  bool shut = false;      // we passed the half-close on (shutdown(SHUT_WR))
};

// One socket of a connection and what edge-triggered epoll last told of it: `readable` stays
// set until a read finds it empty, `writable` until a write finds it full. EPOLLOUT is asked
// for only while a write is blocked, so a flowing connection wakes the relay once per message.
struct Side {
  UniqueFd fd;
  bool readable = true;
  bool writable = true;
  bool out_watched = false;
};

struct Connection {
  uint64_t id = 0;
  int owner = 0;
  std::size_t target = 0;
  Side inside, outside;
  Direction up, down;  // up: inside -> outside; down: outside -> inside
  bool connected = false;
  std::size_t next_address = 0;
  Clock::time_point connect_deadline;
  std::optional<Clock::time_point> retry_at;  // a unix target's backlog was full
};

struct Listener {
  UniqueFd fd;
  int owner = 0;
  std::size_t target = 0;
};

struct Command {
  enum { Attach, Detach, Stop } what;
  int owner = 0;
  std::vector<std::pair<UniqueFd, std::size_t>> listeners;
  std::promise<void> done;
};

bool make_pipe(Pipe& pipe) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  pipe.read.reset(fds[0]);
  pipe.write.reset(fds[1]);
  return true;
}

}  // namespace

class Relay::Loop {
 public:
  Loop(std::vector<ResolvedTarget> targets, double connect_timeout_s, RelayCounters& counters)
      : targets_(std::move(targets)),
        connect_timeout_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(connect_timeout_s))),
        counters_(counters) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1(relay)");
    wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake_) throw_errno("eventfd(relay)");
    if (!watch(wake_.get(), EPOLLIN, tag(0, kControl))) throw_errno("epoll_ctl(relay)");
    // Kept for the moment the process runs out of descriptors: closing it makes room to
    // accept and drop one connection instead of spinning on a listener we cannot serve.
    spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }

  void post(std::unique_ptr<Command> command) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      commands_.push_back(std::move(command));
    }
    const uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(wake_.get(), &one, sizeof one);
  }

  void run() {
    while (!stopping_) {
      epoll_event events[128];
      const int ready = ::epoll_wait(epoll_.get(), events, 128, wait_ms());
      if (ready < 0) {
        // Cannot happen with a valid epoll fd; keep serving commands rather than leave a
        // detach waiting forever.
        if (errno != EINTR)
          std::fprintf(stderr, "bulkhead: relay: epoll_wait: %s\n", std::strerror(errno));
        continue;
      }
      for (int i = 0; i < ready; ++i) dispatch(events[i]);
      check_connecting();
    }
    for (auto& [id, connection] : connections_) close_with_reset(connection->outside.fd);
    connections_.clear();
    listeners_.clear();
    counters_.open = 0;
  }

 private:
  // False when epoll refuses (out of memory, max_user_watches): the caller gives up on it.
  bool watch(int fd, uint32_t events, uint64_t data) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = data;
    return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) == 0;
  }

  int wait_ms() const {
    std::optional<Clock::time_point> next;
    for (uint64_t id : connecting_) {
      const Connection& c = *connections_.at(id);
      const auto when = c.retry_at ? *c.retry_at : c.connect_deadline;
      if (!next || when < *next) next = when;
    }
    if (!next) return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  }

  void dispatch(const epoll_event& event) {
    const uint64_t id = event.data.u64 >> 2;
    switch (static_cast<Kind>(event.data.u64 & 3)) {
      case kControl:
        run_commands();
        return;
      case kListener:
        if (auto it = listeners_.find(id); it != listeners_.end()) accept_all(it->second);
        return;
      case kInside:
      case kOutside: {
        auto it = connections_.find(id);
        if (it == connections_.end()) return;  // closed earlier in this batch
        Connection& c = *it->second;
        const bool outside = (event.data.u64 & 3) == kOutside;
        if (outside && !c.connected) {
          connect_finished(c);
        } else if ((event.events & EPOLLERR) != 0) {
          // A reset or another error on one side: reset the other side too.
          reset(c, outside ? kOutside : kInside);
        } else {
          Side& side = outside ? c.outside : c.inside;
          if ((event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0) side.readable = true;
          if ((event.events & (EPOLLOUT | EPOLLHUP)) != 0) side.writable = true;
          pump(c);
        }
        return;
      }
    }
  }

  // -- commands from the supervisor's thread ---------------------------------------------

  void run_commands() {
    uint64_t count;
    [[maybe_unused]] auto ignored = ::read(wake_.get(), &count, sizeof count);
    std::deque<std::unique_ptr<Command>> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(commands_);
    }
    for (auto& command : batch) {
      if (command->what == Command::Attach) {
        for (auto& [fd, target] : command->listeners) {
          if (!fd || target >= targets_.size()) continue;
          const uint64_t id = next_id_++;
          if (!watch(fd.get(), EPOLLIN | EPOLLET, tag(id, kListener))) {
            std::fprintf(stderr, "bulkhead: relay: cannot watch a listener: %s\n",
                         std::strerror(errno));
            continue;
          }
          Listener& listener = listeners_[id];
          listener.fd = std::move(fd);
          listener.owner = command->owner;
          listener.target = target;
          accept_all(listener);  // connections made before it was attached
        }
      } else if (command->what == Command::Detach) {
        detach(command->owner);
      } else {
        stopping_ = true;
      }
      command->done.set_value();
    }
  }

  void detach(int owner) {
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      it = it->second.owner == owner ? listeners_.erase(it) : std::next(it);
    }
    std::vector<uint64_t> doomed;
    for (const auto& [id, connection] : connections_) {
      if (connection->owner == owner) doomed.push_back(id);
    }
    for (uint64_t id : doomed) {
      Connection& c = *connections_.at(id);
      close_with_reset(c.inside.fd);
      close_with_reset(c.outside.fd);  // the server frees the session at once
      drop(c);
    }
  }

  // -- new connections -------------------------------------------------------------------

  void accept_all(Listener& listener) {
    for (;;) {
      UniqueFd inside(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!inside) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if ((errno == EMFILE || errno == ENFILE) && spare_) {
          // Out of descriptors: take the connection with the spare one and reset it.
          spare_.reset();
          UniqueFd dropped(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
          close_with_reset(dropped);
          spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
          counters_.refused++;
          if (!dropped) return;
          continue;
        }
        return;  // EAGAIN: all taken; anything else: try again at the next connection
      }
      ++counters_.accepted;
      auto connection = std::make_unique<Connection>();
      Connection& c = *connection;
      c.id = next_id_++;
      c.owner = listener.owner;
      c.target = listener.target;
      c.inside.fd = std::move(inside);
      set_nodelay(c.inside.fd.get());
      if (!make_pipe(c.up.pipe) || !make_pipe(c.down.pipe) ||
          !watch(c.inside.fd.get(), kIn, tag(c.id, kInside))) {
        close_with_reset(c.inside.fd);
        counters_.refused++;
        continue;
      }
      connections_.emplace(c.id, std::move(connection));
      ++counters_.open;
      c.connect_deadline = Clock::now() + connect_timeout_;
      start_connect(c);
    }
  }

  // Tries the target's addresses in order from `next_address`; a failure of the last one
  // resets the inside connection (the client sees its connection refused at once).
  void start_connect(Connection& c) {
    const ResolvedTarget& target = targets_[c.target];
    c.retry_at.reset();
    while (c.next_address < target.addresses.size()) {
      const auto& address = target.addresses[c.next_address];
      UniqueFd outside(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!outside) break;
      if (address.ss_family != AF_UNIX) set_nodelay(outside.get());
      const int rc = ::connect(outside.get(), reinterpret_cast<const sockaddr*>(&address),
                               target.lengths[c.next_address]);
      if (rc == 0 || errno == EINPROGRESS) {
        // EPOLLOUT tells when the connect ends; it is dropped once connected.
        if (!watch(outside.get(), kIn | EPOLLOUT, tag(c.id, kOutside))) break;
        c.outside.fd = std::move(outside);
        c.outside.out_watched = true;
        if (rc == 0) {
          c.connected = true;
          pump(c);
        } else {
          connecting_.push_back(c.id);
        }
        return;
      }
      if (errno == EAGAIN && address.ss_family == AF_UNIX) {
        // The server's backlog is full: try again shortly, within the connect timeout.
        c.retry_at = Clock::now() + kBacklogRetry;
        connecting_.push_back(c.id);
        return;
      }
      ++c.next_address;
    }
    refuse(c);
  }

  void connect_finished(Connection& c) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(c.outside.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error == 0) {
      // A spurious wake-up before the handshake ends reads as "no error" but not connected.
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      if (::getpeername(c.outside.fd.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length) !=
          0) {
        if (errno == ENOTCONN) return;
        error = errno;
      }
    }
    std::erase(connecting_, c.id);
    if (error != 0) {
      c.outside.fd.reset();  // closing removes it from the epoll set
      ++c.next_address;
      start_connect(c);
      return;
    }
    c.connected = true;
    pump(c);
  }

  void check_connecting() {
    if (connecting_.empty()) return;
    const auto now = Clock::now();
    const std::vector<uint64_t> ids = connecting_;
    for (uint64_t id : ids) {
      auto it = connections_.find(id);
      if (it == connections_.end()) continue;
      Connection& c = *it->second;
      if (c.retry_at && now >= *c.retry_at) {
        std::erase(connecting_, id);
        if (now >= c.connect_deadline) {
          refuse(c);
        } else {
          start_connect(c);
        }
      } else if (!c.retry_at && now >= c.connect_deadline) {
        std::erase(connecting_, id);
        c.outside.fd.reset();
        refuse(c);
      }
    }
  }

  void refuse(Connection& c) {
    ++counters_.refused;
    close_with_reset(c.inside.fd);
    drop(c);
  }

  // -- moving bytes ----------------------------------------------------------------------

  enum class Failed { None, From, To };

  // Moves what it can in one direction, as far as the sockets' flags allow; says which socket
  // failed, if one did. `to_ready`: false while the target is still connecting.
  static Failed transfer(Side& from, Side& to, Direction& d, bool to_ready) {
    for (;;) {
      bool moved = false;
      if (from.readable && !d.from_eof && d.pipe.pending < kPipeBytes) {
        const ssize_t got =
            ::splice(from.fd.get(), nullptr, d.pipe.write.get(), nullptr,
                     kPipeBytes - d.pipe.pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (got > 0) {
          d.pipe.pending += static_cast<std::size_t>(got);
          moved = true;
        } else if (got == 0) {
          d.from_eof = true;
          moved = true;
        } else if (errno == EAGAIN) {
          // With bytes in the pipe this may be the pipe that is full: try again once it drains.
          if (d.pipe.pending == 0) from.readable = false;
        } else if (errno != EINTR) {
          return Failed::From;
        }
      }
      if (d.pipe.pending > 0 && to_ready && to.writable) {
        const ssize_t sent = ::splice(d.pipe.read.get(), nullptr, to.fd.get(), nullptr,
                                      d.pipe.pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (sent > 0) {
          d.pipe.pending -= static_cast<std::size_t>(sent);
          moved = true;
        } else if (sent < 0 && errno == EAGAIN) {
          to.writable = false;
        } else if (sent < 0 && errno != EINTR) {
          return Failed::To;
        }
      }
      if (d.from_eof && d.pipe.pending == 0 && !d.shut && to_ready) {
        ::shutdown(to.fd.get(), SHUT_WR);
        d.shut = true;
      }
      if (!moved) return Failed::None;
    }
  }

  void pump(Connection& c) {
    const Failed up = transfer(c.inside, c.outside, c.up, c.connected);
    if (up != Failed::None) return reset(c, up == Failed::From ? kInside : kOutside);
    if (c.connected) {
      const Failed down = transfer(c.outside, c.inside, c.down, true);
      if (down != Failed::None) return reset(c, down == Failed::From ? kOutside : kInside);
    }
    if (c.up.shut && c.down.shut) {  // both sides half-closed and drained: done
      c.inside.fd.reset();
      c.outside.fd.reset();
      return drop(c);
    }
    if (!c.connected) return;
    watch_out(c.inside, c.id, kInside, c.down.pipe.pending > 0 && !c.inside.writable);
    watch_out(c.outside, c.id, kOutside, c.up.pipe.pending > 0 && !c.outside.writable);
  }

  // Asks for EPOLLOUT on a side only while a write to it is blocked.
  void watch_out(Side& side, uint64_t id, Kind kind, bool wanted) {
    if (side.out_watched == wanted) return;
    epoll_event event{};
    event.events = kIn | (wanted ? uint32_t{EPOLLOUT} : 0u);
    event.data.u64 = tag(id, kind);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, side.fd.get(), &event);
    side.out_watched = wanted;
  }

  // One side failed (or was reset): reset the other, so its peer learns at once.
  void reset(Connection& c, Kind failed) {
    if (failed == kInside) {
      c.inside.fd.reset();
      close_with_reset(c.outside.fd);
    } else {
      c.outside.fd.reset();
      close_with_reset(c.inside.fd);
    }
    drop(c);
  }

  void drop(Connection& c) {
    std::erase(connecting_, c.id);
    connections_.erase(c.id);  // closes whatever is still open, and the pipes
    --counters_.open;
  }

  std::vector<ResolvedTarget> targets_;
  Clock::duration connect_timeout_;
  RelayCounters& counters_;
  UniqueFd epoll_;
  UniqueFd wake_;
  UniqueFd spare_;
  std::mutex mutex_;
  std::deque<std::unique_ptr<Command>> commands_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Listener> listeners_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> connecting_;
};

Relay::Relay(std::vector<ResolvedTarget> targets, double connect_timeout_s)
    : loop_(std::make_unique<Loop>(std::move(targets), connect_timeout_s, counters_)) {
  // The thread takes no signals: the supervisor reads its own through a signalfd, and a
  // splice to a closed peer must return EPIPE here, not raise SIGPIPE.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  thread_ = std::thread([this] { loop_->run(); });
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

Relay::~Relay() {
  auto command = std::make_unique<Command>();
  command->what = Command::Stop;
  loop_->post(std::move(command));
  thread_.join();
}

void Relay::attach(int owner, std::vector<std::pair<UniqueFd, std::size_t>> listeners) {
  auto command = std::make_unique<Command>();
  command->what = Command::Attach;
  command->owner = owner;
  command->listeners = std::move(listeners);
  loop_->post(std::move(command));
}

void Relay::detach(int owner) {
  auto command = std::make_unique<Command>();
  command->what = Command::Detach;
  command->owner = owner;
  auto done = command->done.get_future();
  loop_->post(std::move(command));
  done.wait();
}

}  // namespace bulkhead::services

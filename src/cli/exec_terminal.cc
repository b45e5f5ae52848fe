// `bulkhead exec` and the caller's terminal: the command's own pseudo-terminal and the relay
// between the two (see exec_terminal.h).
#include "src/cli/exec_terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/error.h"

namespace bulkhead {
namespace {

// All of `data` to `fd`, waiting while the terminal is busy (a caller may have left it
// non-blocking). Gives up on errors: a terminal that went away takes the output with it.
void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd out = {fd, POLLOUT, 0};
      ::poll(&out, 1, 1000);
      continue;
    }
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

ExecTerminal::ExecTerminal() {
  for (int fd = 0; fd < 3; ++fd) terminal_[fd] = ::isatty(fd) == 1;
  if (!terminal_[0] && !terminal_[1] && !terminal_[2]) return;
  size_fd_ = terminal_[0] ? 0 : terminal_[1] ? 1 : 2;
  output_fd_ = terminal_[1] ? 1 : terminal_[2] ? 2 : 0;
  // Keystrokes come from fd 0, or, when only the output is a terminal (`... | bulkhead exec`),
  // from our controlling terminal: the command may still prompt through /dev/tty.
  if (terminal_[0]) {
    input_fd_ = 0;
  } else {
    own_tty_ = UniqueFd(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
    input_fd_ = own_tty_.get();
  }
  try {
    UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) throw_errno("posix_openpt");
    if (::unlockpt(master.get()) != 0) throw_errno("unlockpt");
    UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) {  // before Linux 4.13: by name, in our own /dev/pts
      char name[64];
      if (::ptsname_r(master.get(), name, sizeof name) != 0) throw_errno("ptsname");
      slave = UniqueFd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
      if (!slave) throw_errno(std::string("open ") + name);
    }
    // The command's terminal starts as the caller's: same modes, same size.
    termios settings;
    if (::tcgetattr(size_fd_, &settings) == 0) ::tcsetattr(slave.get(), TCSANOW, &settings);
    if (::fcntl(master.get(), F_SETFL, O_NONBLOCK) != 0) throw_errno("fcntl(O_NONBLOCK)");
    master_ = std::move(master);
    slave_ = std::move(slave);
    resize();
  } catch (const std::exception& e) {
    unavailable_ = std::string("terminal: ") + e.what() +
                   "; the command shares the caller's terminal (it cannot push input into it, "
                   "but can read what is typed while it runs)";
  }
}

ExecTerminal::~ExecTerminal() { leave_raw(); }

int ExecTerminal::payload_fd(int fd) const {
  return active() && fd >= 0 && fd < 3 && terminal_[fd] ? slave_.get() : -1;
}

void ExecTerminal::started() {
  slave_.reset();
  reclaim();
}

bool ExecTerminal::in_foreground() const {
  pid_t foreground = ::tcgetpgrp(input_fd_);
  // Not our controlling terminal (fd 0 redirected from another one): no job control applies.
  return foreground < 0 || foreground == ::getpgrp();
}

void ExecTerminal::enter_raw() {
  if (saved_) return;
  termios settings;
  if (::tcgetattr(input_fd_, &settings) != 0) return;
  termios raw = settings;
  // Bytes pass through unchanged (the command's pty does the line editing, echo and ^C), but
  // ^Z still suspends us: the shell's job control, which init extends to the whole sandbox.
  raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
  raw.c_oflag &= ~OPOST;
  raw.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
  raw.c_lflag |= ISIG;
  raw.c_cc[VINTR] = _POSIX_VDISABLE;
  raw.c_cc[VQUIT] = _POSIX_VDISABLE;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (::tcsetattr(input_fd_, TCSADRAIN, &raw) == 0) saved_ = settings;
}

void ExecTerminal::leave_raw() {
  if (!saved_) return;
  // Never stopped for it (SIGTTOU) even if the shell already took the terminal back.
  struct sigaction ignore = {}, previous = {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGTTOU, &ignore, &previous);
  ::tcsetattr(input_fd_, TCSADRAIN, &*saved_);
  ::sigaction(SIGTTOU, &previous, nullptr);
  saved_.reset();
}

void ExecTerminal::reclaim() {
  if (!active() || input_fd_ < 0 || !input_open_) return;
  reading_ = in_foreground();
  if (reading_) enter_raw();
  resize();
}

void ExecTerminal::release() {
  leave_raw();
  reading_ = false;
}

void ExecTerminal::resize() {
  winsize size;
  if (active() && ::ioctl(size_fd_, TIOCGWINSZ, &size) == 0) {
    ::ioctl(master_.get(), TIOCSWINSZ, &size);
  }
}

void ExecTerminal::add_poll_fds(std::vector<pollfd>& fds) const {
  const bool take_input = active() && reading_ && pending_input_.empty();
  fds.push_back({take_input ? input_fd_ : -1, POLLIN, 0});
  const bool watch_pty = active() && output_open_;
  fds.push_back({watch_pty ? master_.get() : -1,
                 static_cast<short>(POLLIN | (pending_input_.empty() ? 0 : POLLOUT)), 0});
}

void ExecTerminal::after_poll(const std::vector<pollfd>& fds, size_t first) {
  if (fds[first].fd >= 0 && fds[first].revents != 0) relay_input();
  const short pty = fds[first + 1].fd >= 0 ? fds[first + 1].revents : 0;
  if (pty & POLLOUT) flush_input();
  if (pty & (POLLIN | POLLHUP | POLLERR)) relay_output();
  // In the background we do not read; look again whether the shell gave us the terminal.
  if (active() && input_fd_ >= 0 && input_open_ && !reading_ && in_foreground()) reclaim();
}

int ExecTerminal::poll_timeout_ms() const {
  return active() && input_fd_ >= 0 && input_open_ && !reading_ ? 250 : -1;
}

void ExecTerminal::relay_input() {
  char buffer[4096];
  ssize_t n = ::read(input_fd_, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {  // the terminal hung up (SIGHUP reaches the command through init)
    input_open_ = false;
    reading_ = false;
    return;
  }
  pending_input_.append(buffer, static_cast<size_t>(n));
  flush_input();
}

void ExecTerminal::flush_input() {
  while (!pending_input_.empty()) {
    ssize_t n = ::write(master_.get(), pending_input_.data(), pending_input_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;  // the command is not reading: wait for POLLOUT
    if (n <= 0) {
      pending_input_.clear();
      return;
    }
    pending_input_.erase(0, static_cast<size_t>(n));
  }
}

void ExecTerminal::relay_output() {
  char buffer[16384];
  ssize_t n = ::read(master_.get(), buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {  // EIO: no slave is open any more
    output_open_ = false;
    return;
  }
  write_all(output_fd_, buffer, static_cast<size_t>(n));
}

void ExecTerminal::drain() {
  if (!active()) return;
  char buffer[16384];
  while (output_open_) {
    ssize_t n = ::read(master_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    write_all(output_fd_, buffer, static_cast<size_t>(n));
  }
}

}  // namespace bulkhead

// `bulkhead exec` and the caller's terminal. The command never holds the caller's terminal:
// when one of our standard fds is a terminal, the command gets that fd as the slave of a new
// pseudo-terminal (its controlling terminal), and we relay: keystrokes in (only while we are
// in the terminal's foreground, so a stopped or background sandbox reads nothing the user
// types for the shell), output out, the window size. See docs/cli.md (bulkhead exec).
#pragma once

#include <poll.h>
#include <termios.h>

#include <optional>
#include <string>
#include <vector>

#include "sandbox/fd.h"

namespace bulkhead {

class ExecTerminal {
 public:
  // A pty when fd 0, 1 or 2 is a terminal; otherwise active() is false and nothing changes.
  ExecTerminal();
  ~ExecTerminal();  // the caller's terminal as it was
  ExecTerminal(const ExecTerminal&) = delete;
  ExecTerminal& operator=(const ExecTerminal&) = delete;

  bool active() const { return master_.get() >= 0; }
  // Why there is no pty although a terminal is there ("" when fine): a sentence for the
  // "not isolated" lines; the command then gets the caller's terminal fds as they are.
  const std::string& unavailable() const { return unavailable_; }
  // What the command gets as its fd `fd` (0-2): the pty's slave, or -1 (ours, unchanged).
  int payload_fd(int fd) const;
  // The command has its copy of the slave: drop ours (so the pty ends with the sandbox), and
  // take the terminal's input when we are in its foreground.
  void started();

  // The poll loop: two fds to watch (appended; -1 when idle), what to do after each poll
  // (ready or not), and the longest wait (in the background, how often to look whether we
  // are in the foreground now).
  void add_poll_fds(std::vector<pollfd>& fds) const;
  void after_poll(const std::vector<pollfd>& fds, size_t first);
  int poll_timeout_ms() const;

  void resize();   // SIGWINCH: the terminal's size to the pty (the kernel tells the command)
  void release();  // before we stop: the terminal's own settings back
  void reclaim();  // after we continue: raw again if we are in the foreground
  void drain();    // the command ended: what it wrote that we have not relayed yet

 private:
  bool in_foreground() const;
  void enter_raw();
  void leave_raw();
  void relay_output();
  void relay_input();
  void flush_input();

  UniqueFd master_, slave_;
  UniqueFd own_tty_;                          // /dev/tty, when fd 0 is not a terminal
  int input_fd_ = -1;                         // where keystrokes come from (fd 0 or own_tty_)
  bool terminal_[3] = {false, false, false};  // which of our fds 0-2 are terminals
  int output_fd_ = -1;                        // where the pty's output goes
  int size_fd_ = -1;                          // the terminal whose size and settings we copy
  std::optional<termios> saved_;              // set while the input terminal is raw
  bool reading_ = false;                      // relaying keystrokes to the pty
  bool input_open_ = true;                    // the input terminal has not hung up
  bool output_open_ = true;                   // the pty has a slave left
  std::string pending_input_;                 // read, not yet taken by the pty
  std::string unavailable_;
};

}  // namespace bulkhead

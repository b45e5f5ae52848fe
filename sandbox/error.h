// Errors carried with context: which operation, which path, and the errno text.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace bulkhead {

// A failed system call: "mount(tmpfs, /tmp): Operation not permitted".
class SysError : public std::runtime_error {
 public:
  SysError(const std::string& what, int err)
      : std::runtime_error(what + ": " + std::strerror(err)), errno_(err) {}
  int code() const { return errno_; }

 private:
  int errno_;
};

// Throws SysError for the current errno.
[[noreturn]] inline void throw_errno(const std::string& what) { throw SysError(what, errno); }

// A user-facing error that is not a system call failure (bad option, bad file).
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bulkhead

// The C ABI of sandbox/forked.h, built as libbulkhead_zygote.so for an interpreter to load
// (Python's ctypes: no extension module per Python ABI). Handles are ForkedSetup objects; errors
// come back as text in the caller's buffer. The steps that end a process never return.
#include <unistd.h>

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "sandbox/error.h"
#include "sandbox/forked.h"

using bulkhead::sandbox::ForkedSetup;

namespace {

void copy_error(const std::exception& e, char* err, size_t len) {
  if (err == nullptr || len == 0) return;
  std::strncpy(err, e.what(), len - 1);
  err[len - 1] = '\0';
}

}  // namespace

extern "C" {
#define BH_EXPORT __attribute__((visibility("default")))

// Reads the setup (JSON, ForkedSetup::to_json) from `fd` to its end. NULL on failure.
BH_EXPORT void* bh_load(int fd, char* err, size_t len) {
  try {
    std::string text;
    char buffer[65536];
    for (;;) {
      const ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw bulkhead::SysError("read(forked setup)", errno);
      if (got == 0) break;
      text.append(buffer, static_cast<size_t>(got));
    }
    return new ForkedSetup(ForkedSetup::from_json(text));
  } catch (const std::exception& e) {
    copy_error(e, err, len);
    return nullptr;
  }
}

BH_EXPORT int bh_settle(void* setup, char* err, size_t len) {
  try {
    bulkhead::sandbox::forked_settle(*static_cast<ForkedSetup*>(setup));
    return 0;
  } catch (const std::exception& e) {
    copy_error(e, err, len);
    return -1;
  }
}

BH_EXPORT int bh_unshare(void* setup, char* err, size_t len) {
  try {
    bulkhead::sandbox::forked_unshare(*static_cast<ForkedSetup*>(setup));
    return 0;
  } catch (const std::exception& e) {
    copy_error(e, err, len);
    return -1;
  }
}

BH_EXPORT int bh_init_begin(void* setup, const char* name, int handshake_fd, int status_fd) {
  return bulkhead::sandbox::forked_init_begin(*static_cast<ForkedSetup*>(setup), name, handshake_fd,
                                              status_fd);
}

BH_EXPORT void bh_init_serve(void* setup, int status_fd, int signal_fd, int payload) {
  bulkhead::sandbox::forked_init_serve(*static_cast<ForkedSetup*>(setup), status_fd, signal_fd,
                                       static_cast<pid_t>(payload));
}

BH_EXPORT void bh_payload(void* setup, const int* fds, const int* targets, int count,
                          int status_fd) {
  bulkhead::sandbox::forked_payload(*static_cast<ForkedSetup*>(setup),
                                    std::vector<int>(fds, fds + count),
                                    std::vector<int>(targets, targets + count), status_fd);
}

// A step failed before the child's init could report: "E <text>", exit 125.
BH_EXPORT void bh_fail(int status_fd, const char* text) {
  bulkhead::sandbox::send_status(status_fd, std::string("E ") + text);
  ::_exit(125);
}
}

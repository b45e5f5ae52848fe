// Small whole-file reads and writes for /proc and /sys, with errors naming the path.
#include "sandbox/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "sandbox/error.h"
#include "sandbox/fd.h"

namespace bulkhead {

std::optional<std::string> try_read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string read_file(const std::string& path) {
  auto content = try_read_file(path);
  if (!content) throw_errno("read " + path);
  return *content;
}

int try_write_file(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno;
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return errno;
  return n == static_cast<ssize_t>(value.size()) ? 0 : EIO;
}

void write_file(const std::string& path, const std::string& value) {
  int err = try_write_file(path, value);
  if (err != 0) throw SysError("write '" + value + "' to " + path, err);
}

unsigned long long read_keyed_counter(const std::string& path, const std::string& key) {
  auto content = try_read_file(path);
  if (!content) return 0;
  std::istringstream in(*content);
  std::string name;
  unsigned long long value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

}  // namespace bulkhead

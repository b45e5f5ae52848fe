// Reports published whole (see atomic_file.h).
#include "src/report/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "sandbox/error.h"

namespace bulkhead {
namespace {
constexpr std::size_t kBufferBytes = 256 * 1024;
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  fd_.reset(::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd_) throw_errno("open(" + tmp_ + ")");
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  fd_.reset();
  ::unlink(tmp_.c_str());
}

void AtomicFile::write(std::string_view data) {
  if (buffer_.size() + data.size() < kBufferBytes) {
    buffer_ += data;
    return;
  }
  flush();
  write_all(data);  // a big piece goes straight to the file, not copied
}

void AtomicFile::flush() {
  write_all(buffer_);
  buffer_.clear();
}

void AtomicFile::write_all(std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write(" + tmp_ + ")");
    }
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  flush();
  if (::close(fd_.release()) != 0) throw_errno("close(" + tmp_ + ")");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    throw_errno("rename(" + tmp_ + ", " + path_ + ")");
  }
  committed_ = true;
}

}  // namespace bulkhead

// Bazel's test contract files (bazel.h).
#include "src/shard/bazel.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "sandbox/error.h"

namespace bulkhead {

namespace {

void touch(const std::string& path, const char* what) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw SysError(std::string("open ") + what + " " + path, errno);
  ::close(fd);
}

}  // namespace

BazelTestRun::BazelTestRun(BazelContract contract) : contract_(std::move(contract)) {
  if (!contract_.shard_status_file.empty()) {
    touch(contract_.shard_status_file, "TEST_SHARD_STATUS_FILE");
  }
  if (!contract_.premature_exit_file.empty()) {
    touch(contract_.premature_exit_file, "TEST_PREMATURE_EXIT_FILE");
  }
}

BazelTestRun::~BazelTestRun() {
  if (!contract_.premature_exit_file.empty()) ::unlink(contract_.premature_exit_file.c_str());
}

}  // namespace bulkhead

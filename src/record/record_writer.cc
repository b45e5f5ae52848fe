// RecordWriter and prune_runs: a record is made under a dot-name with its lock held and then
// renamed into place, so listings and other runs' pruning never see it half made or unlocked
// while its run lives.
#include "src/record/record_writer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "sandbox/error.h"
#include "src/report/outcome.h"

namespace bulkhead::record {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLockFile = ".lock";
constexpr std::size_t kFlushBytes = 64 << 10;

void write_whole(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write(" + path + ")");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void ensure_gitignore(const fs::path& runs) {
  const fs::path top = runs.parent_path();
  if (runs.filename() != "runs" || top.filename() != ".bulkhead") return;
  const fs::path ignore = top / ".gitignore";
  std::error_code error;
  if (fs::exists(ignore, error)) return;
  const std::string tmp = ignore.string() + "." + std::to_string(getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw_errno("open(" + tmp + ")");
  write_whole(fd.get(), "# bulkhead's run records (bulkhead runs): not for git\n*\n", tmp);
  fd.reset();
  if (::rename(tmp.c_str(), ignore.c_str()) != 0) throw_errno("rename(" + ignore.string() + ")");
}

// What a bulkhead killed mid-way left: a record still in the making (`.new-<id>`, unlocked and
// over a minute old) or one it was removing (`.pruned-<pid>-<id>` of a pid that is gone).
void remove_leftovers(const fs::path& runs) {
  std::error_code error;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(runs, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    bool gone = false;
    if (name.rfind(".new-", 0) == 0) {
      std::error_code ignored;
      const auto age = now - fs::last_write_time(it->path(), ignored);
      gone = !ignored && age > std::chrono::minutes(1) && !run_in_progress(it->path().string());
    } else if (name.rfind(".pruned-", 0) == 0) {
      const long pid = std::strtol(name.c_str() + 8, nullptr, 10);
      gone = pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
    }
    if (!gone) continue;
    const fs::path away = runs / (".pruned-" + std::to_string(getpid()) + "-" + name);
    std::error_code ignored;
    if (::rename(it->path().c_str(), away.c_str()) == 0) fs::remove_all(away, ignored);
  }
}

}  // namespace

RecordWriter::RecordWriter(const std::string& runs_dir, const RunRecord& header) {
  const fs::path runs(runs_dir);
  std::error_code error;
  fs::create_directories(runs, error);
  if (error) throw SysError("mkdir " + runs.string(), error.value());
  ensure_gitignore(runs);
  const fs::path making = runs / (".new-" + header.run_id);
  const fs::path dir = runs / header.run_id;
  if (::mkdir(making.c_str(), 0755) != 0) throw_errno("mkdir " + making.string());
  try {
    const std::string lock = (making / kLockFile).string();
    lock_.reset(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!lock_ || ::flock(lock_.get(), LOCK_EX) != 0) throw_errno("lock " + lock);
    write_file_atomically((making / "run.json").string(), run_json_text(header));
    const std::string results = (making / "results.jsonl").string();
    results_.reset(::open(results.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!results_) throw_errno("open(" + results + ")");
    if (::rename(making.c_str(), dir.c_str()) != 0) throw_errno("rename " + dir.string());
  } catch (...) {
    fs::remove_all(making, error);
    throw;
  }
  dir_ = dir.string();
}

void RecordWriter::append(const RecordedTest& test) {
  pending_ += result_line(test);
  if (pending_.size() >= kFlushBytes) flush();
}

void RecordWriter::flush() {
  if (pending_.empty()) return;
  std::string data;
  data.swap(pending_);  // dropped if the write fails: the next lines start whole
  write_whole(results_.get(), data, dir_ + "/results.jsonl");
}

RecordWriter::~RecordWriter() {
  try {
    flush();
  } catch (const std::exception&) {
    // Only on an abnormal end: a run that ends normally wrote its lines in update().
  }
}

void RecordWriter::update(const RunRecord& run) {
  flush();
  write_file_atomically(dir_ + "/run.json", run_json_text(run));
}

bool run_in_progress(const std::string& dir) {
  UniqueFd fd(::open((dir + "/" + kLockFile).c_str(), O_RDONLY | O_CLOEXEC));
  return fd && ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

std::vector<std::string> prune_runs(const std::string& runs_dir, std::size_t keep) {
  std::vector<std::string> removed;
  const std::vector<std::string> ids = list_runs(runs_dir);
  for (std::size_t i = keep; i < ids.size(); ++i) {
    const fs::path dir = fs::path(runs_dir) / ids[i];
    const std::string lock = (dir / kLockFile).string();
    UniqueFd fd(::open(lock.c_str(), O_RDONLY | O_CLOEXEC));
    // A record without a lock file (damaged, or from elsewhere) is old enough to go too.
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // its run is still going
    const fs::path away =
        fs::path(runs_dir) / (".pruned-" + std::to_string(getpid()) + "-" + ids[i]);
    if (::rename(dir.c_str(), away.c_str()) != 0) continue;  // another run took it first
    std::error_code error;
    fs::remove_all(away, error);
    removed.push_back(ids[i]);
  }
  remove_leftovers(runs_dir);
  return removed;
}

}  // namespace bulkhead::record

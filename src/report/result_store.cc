// The run's result store (see result_store.h).
#include "src/report/result_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "src/report/leaks.h"
#include "src/report/outcome.h"
#include "src/report/record_codec.h"

namespace bulkhead {
namespace {

constexpr std::size_t kFlushAt = 256 * 1024;

[[noreturn]] void fail(const std::string& what, const std::string& where) {
  throw std::runtime_error("result store: " + what + " in " + where + ": " + std::strerror(errno));
}

std::string temp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

// An unlinked file in `dir`: O_TMPFILE where the filesystem has it, else mkstemp + unlink.
int open_spill(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  std::string name = dir + "/bulkhead-results-XXXXXX";
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) fail("cannot create the spill file", dir);
  ::unlink(name.c_str());
  return fd;
}

// Plain: nothing the terminal's summary shows but a count of passes (at most 255 of them).
bool is_plain(const TestRecord& record, std::uint8_t& passed) {
  passed = 0;
  if (record.cause != Cause::None) return false;
  for (const PhaseReport& phase : record.phases) {
    const std::string category = phase_category(phase);
    if (category == "passed" && passed < 255) {
      ++passed;
    } else if (!category.empty()) {
      return false;
    }
  }
  return passed < 255 && leaks_of(record).empty();
}

}  // namespace

ResultStore::ResultStore(Backend backend) : backend_(backend) {
  if (backend_ == Backend::Spill) path_ = temp_dir();
}

void ResultStore::reserve(std::size_t tests) {
  tests_.reserve(tests);
  first_.reserve(tests);
}

ResultStore ResultStore::from(const std::vector<TestRecord>& records, Backend backend) {
  ResultStore store(backend);
  for (const TestRecord& record : records) store.put(record);
  return store;
}

std::uint16_t ResultStore::worker_id(const std::string& name) {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i] == name) return static_cast<std::uint16_t>(i);
  }
  if (workers_.size() >= 0xFFFF) throw std::runtime_error("result store: too many workers");
  workers_.push_back(name);
  return static_cast<std::uint16_t>(workers_.size() - 1);
}

void ResultStore::put(const TestRecord& record,
                      const std::vector<protocol::PhaseDisplay>& displays) {
  TestSummary* summary = nullptr;
  if (contains(record.index)) {
    TestSummary& first = tests_[first_[record.index] - 1];
    if (read(first, nullptr).nodeid == record.nodeid) summary = &first;
  }
  if (summary == nullptr) {
    if (tests_.size() >= 0xFFFFFFFFu || record.index >= 0xFFFFFFFFu) {
      throw std::runtime_error("result store: too many tests");
    }
    if (record.index >= first_.size()) first_.resize(record.index + 1, 0);
    if (first_[record.index] == 0)
      first_[record.index] = static_cast<std::uint32_t>(tests_.size() + 1);
    summary = &tests_.emplace_back();
  }
  const std::size_t before = pending_.size();
  encode_record(record, displays, pending_);
  const std::size_t length = pending_.size() - before;
  if (length > 0xFFFFFFFFu) throw std::runtime_error("result store: record over 4 GiB");
  summary->index = static_cast<std::uint32_t>(record.index);
  summary->offset = end_;
  summary->length = static_cast<std::uint32_t>(length);
  end_ += length;
  summary->sandbox = record.sandbox;
  summary->seq = record.seq;
  summary->worker = worker_id(record.worker);
  summary->cause = record.cause;
  summary->failing = has_failure(record);
  summary->plain = is_plain(record, summary->passed_phases);
  summary->start = record.phases.empty() ? 0 : record.phases.front().start;
  summary->has_memory_peak = record.resources && record.resources->memory_peak_bytes;
  summary->memory_peak = summary->has_memory_peak ? *record.resources->memory_peak_bytes : 0;
  if (backend_ == Backend::Spill && pending_.size() >= kFlushAt) flush();
}

void ResultStore::flush() const {
  if (!fd_) fd_.reset(open_spill(path_));
  std::size_t done = 0;
  while (done < pending_.size()) {
    const ssize_t n = ::pwrite(fd_.get(), pending_.data() + done, pending_.size() - done,
                               static_cast<off_t>(flushed_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write the spill file", path_);
    done += static_cast<std::size_t>(n);
  }
  flushed_ += pending_.size();
  pending_.clear();
}

bool ResultStore::contains(std::size_t index) const {
  return index < first_.size() && first_[index] > 0;
}

std::vector<std::size_t> ResultStore::indices() const {
  std::vector<std::size_t> out;
  out.reserve(tests_.size());
  for (std::size_t i = 0; i < first_.size(); ++i) {
    if (first_[i] > 0) out.push_back(i);
  }
  return out;
}

const TestSummary& ResultStore::summary(std::size_t index) const {
  if (!contains(index)) {
    throw std::out_of_range("result store: no test stored at index " + std::to_string(index));
  }
  return tests_[first_[index] - 1];
}

TestRecord ResultStore::load(std::size_t index,
                             std::vector<protocol::PhaseDisplay>* displays) const {
  return read(summary(index), displays);
}

TestRecord ResultStore::read(const TestSummary& test,
                             std::vector<protocol::PhaseDisplay>* displays) const {
  if (backend_ == Backend::Memory || test.offset >= flushed_) {
    const std::size_t at = static_cast<std::size_t>(test.offset - flushed_);
    return decode_record(std::string_view(pending_).substr(at, test.length), displays);
  }
  std::string buffer(test.length, '\0');
  std::size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::pread(fd_.get(), buffer.data() + done, buffer.size() - done,
                              static_cast<off_t>(test.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot read the spill file", path_);
    done += static_cast<std::size_t>(n);
  }
  return decode_record(buffer, displays);
}

void ResultStore::for_each(const std::function<void(const TestRecord&)>& visit) const {
  std::vector<std::uint32_t> order(tests_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  std::stable_sort(order.begin(), order.end(), [this](std::uint32_t a, std::uint32_t b) {
    return tests_[a].index < tests_[b].index;
  });
  for (std::uint32_t position : order) visit(read(tests_[position], nullptr));
}

bool ResultStore::any_failing() const {
  return std::any_of(tests_.begin(), tests_.end(),
                     [](const TestSummary& test) { return test.failing; });
}

}  // namespace bulkhead

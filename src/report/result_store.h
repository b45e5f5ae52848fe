// The run's results as tests end: each test's full TestRecord (and its terminal display facts)
// appended to a spill file, an unlinked temp file in $TMPDIR, and a few dozen bytes per test
// kept in memory (TestSummary). Reports read it back one record at a time: by collection index,
// or all of them in collection order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/fd.h"
#include "src/report/test_model.h"
#include "src/run/protocol.h"

namespace bulkhead {

// What the store keeps in memory per stored test: 48 bytes.
struct TestSummary {
  std::uint64_t offset = 0;       // of its record in the spill (or the memory buffer)
  double start = 0;               // its first phase's start (unix time), 0 when none
  std::uint64_t memory_peak = 0;  // resources->memory_peak_bytes, when has_memory_peak
  std::uint32_t index = 0;        // TestRecord::index
  std::uint32_t length = 0;
  std::int32_t sandbox = -1;  // TestRecord::sandbox, seq
  std::int32_t seq = -1;
  std::uint16_t worker = 0;  // into ResultStore::worker_name()
  Cause cause = Cause::None;
  std::uint8_t passed_phases = 0;  // phases whose category is "passed" (plain tests' count)
  bool failing : 1 = false;        // a phase failed or erred (has_failure)
  bool plain : 1 = false;          // every phase passed or uncounted, no cause, no leak
  bool has_memory_peak : 1 = false;
};

static_assert(sizeof(TestSummary) == 48, "TestSummary is what each test costs: keep it small");

class ResultStore {
 public:
  enum class Backend {
    Spill,   // records in an unlinked temp file ($TMPDIR, else /tmp)
    Memory,  // records in a memory buffer (`bulkhead merge`, unit tests)
  };
  explicit ResultStore(Backend backend = Backend::Spill);
  // Room for `tests` summaries (the supervisor knows the collection's size): no regrowth.
  void reserve(std::size_t tests);
  // From records already in memory (each its index).
  static ResultStore from(const std::vector<TestRecord>& records,
                          Backend backend = Backend::Memory);
  ResultStore(ResultStore&&) noexcept = default;
  ResultStore& operator=(ResultStore&&) noexcept = default;
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  // Stores `record`. A record with the index and node id of a stored one replaces it (the old
  // bytes stay in the file, unreferenced), as unique_records() keeps one per test; a clash on
  // the index alone is another test.
  void put(const TestRecord& record, const std::vector<protocol::PhaseDisplay>& displays = {});
  bool contains(std::size_t index) const;
  std::size_t size() const { return tests_.size(); }  // tests stored
  bool empty() const { return tests_.empty(); }
  // The stored tests' indices, ascending (each once).
  std::vector<std::size_t> indices() const;
  // The (first) test stored under `index`; throws std::out_of_range when none.
  const TestSummary& summary(std::size_t index) const;
  const std::string& worker_name(std::uint16_t id) const { return workers_.at(id); }

  // One record back; throws std::out_of_range when not stored, std::runtime_error on a read
  // failure (with the file and errno).
  TestRecord load(std::size_t index, std::vector<protocol::PhaseDisplay>* displays = nullptr) const;
  // Every stored test in collection order (by index; as stored among equal indices), one
  // record alive at a time.
  void for_each(const std::function<void(const TestRecord&)>& visit) const;
  bool any_failing() const;
  std::uint64_t bytes_written() const { return end_; }

 private:
  std::uint16_t worker_id(const std::string& name);
  void flush() const;
  TestRecord read(const TestSummary& test, std::vector<protocol::PhaseDisplay>* displays) const;

  Backend backend_;
  mutable UniqueFd fd_;                // opened at the first flush
  std::string path_;                   // for error messages: the directory it lives in
  mutable std::string pending_;        // bytes not yet written to the file (spill), or all (memory)
  mutable std::uint64_t flushed_ = 0;  // bytes in the file
  std::uint64_t end_ = 0;              // bytes appended in all
  std::vector<TestSummary> tests_;     // as stored
  std::vector<std::uint32_t> first_;   // index -> 1 + position in tests_ of its first; 0: none
  std::vector<std::string> workers_;
};

}  // namespace bulkhead

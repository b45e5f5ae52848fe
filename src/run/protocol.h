// The worker channel's wire format: JSON lines. Splits a byte stream into bounded lines,
// decodes each worker event once into typed structs, and encodes supervisor commands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "src/report/test_model.h"
#include "src/run/units.h"

namespace bulkhead::protocol {

// A malformed, truncated or oversized line. what() names the event and field and quotes the
// start of the line.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The channel's bounds (docs/architecture.md, "Trust"). A line is at most:
//  - kCollectionLineCap until the worker's `collected`, which lists every node id in one line
//    (~150 bytes a test: 128 MiB holds ~850k tests; pandas, among the largest suites, ~30 MiB);
//  - event_line_cap(--output-cap) after it (from the start for a worker forked from the zygote):
//    a report carries at most --output-cap bytes of captured output, which JSON escaping can
//    grow sixfold ("\u0001"), plus tracebacks; the worker cuts whatever would not fit, so only
//    a broken or forging worker exceeds it.
constexpr std::size_t kCollectionLineCap = std::size_t{128} << 20;
std::size_t event_line_cap(std::uint64_t output_cap_bytes);  // 16 MiB + 8 x output cap
// Deepest JSON nesting accepted in a line (pytest's serialised reports nest about 6 deep):
// copying or writing out a much deeper value would overflow the supervisor's stack.
constexpr std::size_t kMaxJsonDepth = 64;
// Timeouts above this (about 31 years) are taken as this: later arithmetic must not overflow.
constexpr double kMaxSeconds = 1e9;
// The `collected` event's `protocol`: bulkhead_worker.py's PROTOCOL_VERSION.
constexpr int kProtocolVersion = 1;

// Accumulates bytes and yields complete lines (without '\n'). A line longer than `max_line`
// is an error, so a runaway worker cannot grow our memory without bound; after one, the
// stream is broken and further bytes are dropped.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = kCollectionLineCap) : max_line_(max_line) {}

  // Lines completed from now on are held to `max_line` (callable from on_line).
  void set_max_line(std::size_t max_line) { max_line_ = max_line; }
  std::size_t max_line() const { return max_line_; }

  // Appends `data` and calls on_line(std::string_view) for each complete line.
  template <typename OnLine>
  void feed(std::string_view data, OnLine&& on_line) {
    if (overflowed_) return;
    buffer_.append(data);
    std::size_t begin = 0;
    while (true) {
      const std::size_t newline = buffer_.find('\n', scan_from_ > begin ? scan_from_ : begin);
      if (newline == std::string::npos) break;
      if (newline - begin > max_line_) overflow();
      on_line(std::string_view(buffer_).substr(begin, newline - begin));
      begin = newline + 1;
    }
    buffer_.erase(0, begin);
    // A long line (the collection) leaves a large buffer: give it back.
    if (buffer_.capacity() > kKeptCapacity && buffer_.size() < kKeptCapacity) {
      buffer_.shrink_to_fit();
    }
    scan_from_ = buffer_.size();
    if (buffer_.size() > max_line_) overflow();
  }

  // Bytes after the last newline: a line cut short when the stream ends here.
  std::string_view partial() const { return buffer_; }

 private:
  [[noreturn]] void overflow();  // drops the buffer and throws ProtocolError
  static constexpr std::size_t kKeptCapacity = std::size_t{1} << 20;

  std::size_t max_line_;
  std::string buffer_;
  std::size_t scan_from_ = 0;
  bool overflowed_ = false;
};

// Per-phase facts the terminal needs that TestRecord does not keep.
struct PhaseDisplay {
  std::string head_line;       // "TestGroup.test_one": the failure section title
  std::string longrepr_color;  // longrepr with ANSI markup, when the worker renders colour
  std::string skip_path;       // for the folded SKIPPED summary: "tests/test_x.py"
  std::optional<long> skip_lineno;
};

struct ReportedPhase {
  PhaseReport phase;
  PhaseDisplay display;
};

struct WorkerSettings {
  std::string tbstyle = "auto";
  std::string showcapture = "all";
  std::string reportchars = "fE";
  int verbose = 0;
  int maxfail = 0;
  std::string capture = "fd";
  bool continue_on_collection_errors = false;
  bool color = false;
  std::string rootdir;
  std::string ini_timeout;
  std::string python_version;
  std::string pytest_version;
};

// A collected test: its node id and xdist_group name. The scheduler and the shard planner read
// the collection's items as they are (no copy of the node ids).
using CollectedItem = ScheduledItem;

struct CollectReport {  // a collector that failed or skipped
  std::string nodeid;
  ReportedPhase report;
};

// pytest's cache as the worker saw it after collecting (absent with -p no:cacheprovider):
// what the host side needs to write it as this run's pytest would.
struct PytestCacheFacts {
  std::string dir;                           // absolute: the rootdir's .pytest_cache, or cache_dir
  std::optional<nlohmann::json> lastfailed;  // the last-failed set after collection
  bool collect_only = false;
  bool stepwise = false;  // --sw: the host session writes cache/stepwise
};

struct CollectedEvent {
  int protocol = 0;
  long pid = 0;
  std::vector<CollectedItem> items;
  std::size_t deselected = 0;
  std::vector<CollectReport> collect_reports;
  WorkerSettings settings;
  std::vector<std::string> header_lines;      // pytest_report_header (rootdir, plugins...)
  std::vector<std::string> collection_lines;  // pytest_report_collectionfinish (run-last-failure)
  std::optional<PytestCacheFacts> cache;
};
struct StartEvent {
  std::size_t index = 0;
  std::optional<double> timeout_s;  // @pytest.mark.timeout(S)
};
struct TimeoutEvent {  // pytest-timeout's effective value for the running test
  std::size_t index = 0;
  double seconds = 0;
};
struct ReportEvent {
  std::optional<std::size_t> index;  // nullopt: a report outside any test we handed out
  ReportedPhase report;
};
struct FinishedEvent {
  explicit FinishedEvent(std::size_t test = 0, std::optional<TestResources> cost = std::nullopt)
      : index(test), resources(std::move(cost)) {}
  std::size_t index = 0;
  std::optional<TestResources> resources;  // what the test cost, as its worker measured it
};
struct WarningEvent {
  std::string when;
  std::string nodeid;
  std::string message;
};
struct InternalErrorEvent {
  std::string text;
};
struct DoneEvent {};
struct ReleasedEvent {  // the answer to `steal`: the indices it gave back (maybe none)
  std::vector<std::size_t> indices;
};

// The worker needs the host session (pytest-xdist's controller): `reasons` name the plugins,
// conftests or options; with `wait` it blocks until a `workerinput` command answers.
struct NeedControllerEvent {
  std::vector<std::string> reasons;
  bool wait = false;
};
struct WorkerOutputEvent {};  // config.workeroutput at session finish: for the host session

using Event = std::variant<CollectedEvent, StartEvent, TimeoutEvent, ReportEvent, FinishedEvent,
                           WarningEvent, InternalErrorEvent, DoneEvent, ReleasedEvent,
                           NeedControllerEvent, WorkerOutputEvent>;

// Decodes one line. Throws ProtocolError with context on bad JSON, nesting deeper than
// kMaxJsonDepth, unknown events, missing or mistyped fields, negative counts.
Event decode_event(std::string_view line);
// The general decoder alone, without the fast path for common lines (protocol_fast.h) that
// decode_event tries first; both give the same event for every line the fast path takes.
Event decode_event_generic(std::string_view line);

// Supervisor -> worker commands, each one line with its trailing '\n'.
std::string encode_run(const std::vector<std::size_t>& indices);
std::string encode_shutdown();  // no more work will come: finish the queue, then exit
std::string encode_stop();      // drop the queue, finish the running test, then exit
// Run what you hold now, without waiting for a next item: none may come for a while (the
// rest of the queue is suspects other workers take). More may still follow.
std::string encode_go();
// Give back these units (each all or nothing) unless started or already your `nextitem`;
// answered at once by a `released` event, even while a test runs.
std::string encode_steal(const std::vector<std::vector<std::size_t>>& units);
// The worker's config.workerinput from the host session (`data_json`: a JSON object, or
// "null" when no host session could serve it).
std::string encode_workerinput(std::string_view data_json);

}  // namespace bulkhead::protocol

// The result store's binary record form (see record_codec.h).
#include "src/report/record_codec.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace bulkhead {
namespace {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <typename T>
  void pod(T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out_.append(bytes, sizeof(T));
  }
  void str(std::string_view text) {
    pod<std::uint32_t>(static_cast<std::uint32_t>(text.size()));
    out_.append(text);
  }
  template <typename T>
  void opt(const std::optional<T>& value) {
    pod<std::uint8_t>(value.has_value());
    if (value) pod<T>(*value);
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <typename T>
  T pod() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, data_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  std::string str() {
    const auto size = pod<std::uint32_t>();
    need(size);
    std::string text(data_.substr(at_, size));
    at_ += size;
    return text;
  }
  std::string_view bytes(std::size_t size) {
    need(size);
    std::string_view view = data_.substr(at_, size);
    at_ += size;
    return view;
  }
  template <typename T>
  std::optional<T> opt() {
    if (!pod<std::uint8_t>()) return std::nullopt;
    return pod<T>();
  }
  std::size_t count() {
    const auto n = pod<std::uint32_t>();
    if (n > data_.size() - at_) throw std::runtime_error("result store: bad record count");
    return n;
  }
  bool done() const { return at_ == data_.size(); }

 private:
  void need(std::size_t size) const {
    if (size > data_.size() - at_) throw std::runtime_error("result store: truncated record");
  }
  std::string_view data_;
  std::size_t at_ = 0;
};

void put_phase(Writer& w, const PhaseReport& phase) {
  w.str(phase.when);
  w.str(phase.outcome);
  w.str(phase.category);
  w.str(phase.letter);
  w.str(phase.word);
  w.pod(phase.duration);
  w.pod(phase.start);
  w.pod(phase.stop);
  w.str(phase.longrepr);
  w.str(phase.message);
  w.pod<std::uint32_t>(static_cast<std::uint32_t>(phase.sections.size()));
  for (const auto& [title, text] : phase.sections) {
    w.str(title);
    w.str(text);
  }
  w.str(phase.wasxfail);
  if (phase.raw.is_null()) {
    w.pod<std::uint8_t>(0);
  } else {
    w.pod<std::uint8_t>(1);
    const std::vector<std::uint8_t> cbor = nlohmann::json::to_cbor(phase.raw);
    w.str({reinterpret_cast<const char*>(cbor.data()), cbor.size()});
  }
}

PhaseReport get_phase(Reader& r) {
  PhaseReport phase;
  phase.when = r.str();
  phase.outcome = r.str();
  phase.category = r.str();
  phase.letter = r.str();
  phase.word = r.str();
  phase.duration = r.pod<double>();
  phase.start = r.pod<double>();
  phase.stop = r.pod<double>();
  phase.longrepr = r.str();
  phase.message = r.str();
  const std::size_t sections = r.count();
  phase.sections.reserve(sections);
  for (std::size_t i = 0; i < sections; ++i) {
    std::string title = r.str();
    phase.sections.emplace_back(std::move(title), r.str());
  }
  phase.wasxfail = r.str();
  if (r.pod<std::uint8_t>()) {
    const auto size = r.pod<std::uint32_t>();
    const std::string_view cbor = r.bytes(size);
    phase.raw = nlohmann::json::from_cbor(cbor.begin(), cbor.end());
  }
  return phase;
}

void put_phases(Writer& w, const std::vector<PhaseReport>& phases) {
  w.pod<std::uint32_t>(static_cast<std::uint32_t>(phases.size()));
  for (const PhaseReport& phase : phases) put_phase(w, phase);
}

std::vector<PhaseReport> get_phases(Reader& r) {
  std::vector<PhaseReport> phases(r.count());
  for (PhaseReport& phase : phases) phase = get_phase(r);
  return phases;
}

void put_resources(Writer& w, const std::optional<TestResources>& resources) {
  w.pod<std::uint8_t>(resources.has_value());
  if (!resources) return;
  w.opt(resources->cpu_s);
  w.str(resources->cpu_source);
  w.opt(resources->memory_peak_bytes);
  w.opt(resources->memory_start_bytes);
  w.str(resources->memory_peak_scope);
  w.opt(resources->pids_started);
}

std::optional<TestResources> get_resources(Reader& r) {
  if (!r.pod<std::uint8_t>()) return std::nullopt;
  TestResources resources;
  resources.cpu_s = r.opt<double>();
  resources.cpu_source = r.str();
  resources.memory_peak_bytes = r.opt<std::uint64_t>();
  resources.memory_start_bytes = r.opt<std::uint64_t>();
  resources.memory_peak_scope = r.str();
  resources.pids_started = r.opt<std::uint64_t>();
  return resources;
}

Cause get_cause(Reader& r) {
  const auto value = r.pod<std::uint8_t>();
  if (value > static_cast<std::uint8_t>(Cause::NotRun)) {
    throw std::runtime_error("result store: bad cause");
  }
  return static_cast<Cause>(value);
}

}  // namespace

void encode_record(const TestRecord& record, const std::vector<protocol::PhaseDisplay>& displays,
                   std::string& out) {
  Writer w(out);
  w.pod<std::uint64_t>(record.index);
  w.str(record.nodeid);
  w.str(record.worker);
  w.pod<std::int32_t>(record.sandbox);
  w.pod<std::int32_t>(record.seq);
  put_phases(w, record.phases);
  w.pod<std::uint8_t>(static_cast<std::uint8_t>(record.cause));
  w.str(record.cause_message);
  w.pod<std::uint8_t>(record.finished);
  w.str(record.verdict);
  w.pod<std::uint32_t>(static_cast<std::uint32_t>(record.attempts.size()));
  for (const RetryAttempt& attempt : record.attempts) {
    w.str(attempt.kind);
    w.pod<std::uint64_t>(attempt.predecessors);
    w.str(attempt.worker);
    w.str(attempt.outcome);
    put_phases(w, attempt.phases);
    w.pod<std::uint8_t>(static_cast<std::uint8_t>(attempt.cause));
    w.str(attempt.cause_message);
    put_resources(w, attempt.resources);
  }
  put_resources(w, record.resources);
  w.pod<std::uint32_t>(static_cast<std::uint32_t>(displays.size()));
  for (const protocol::PhaseDisplay& display : displays) {
    w.str(display.head_line);
    w.str(display.longrepr_color);
    w.str(display.skip_path);
    w.opt(display.skip_lineno);
  }
}

TestRecord decode_record(std::string_view data, std::vector<protocol::PhaseDisplay>* displays) {
  Reader r(data);
  TestRecord record;
  record.index = r.pod<std::uint64_t>();
  record.nodeid = r.str();
  record.worker = r.str();
  record.sandbox = r.pod<std::int32_t>();
  record.seq = r.pod<std::int32_t>();
  record.phases = get_phases(r);
  record.cause = get_cause(r);
  record.cause_message = r.str();
  record.finished = r.pod<std::uint8_t>() != 0;
  record.verdict = r.str();
  record.attempts.resize(r.count());
  for (RetryAttempt& attempt : record.attempts) {
    attempt.kind = r.str();
    attempt.predecessors = r.pod<std::uint64_t>();
    attempt.worker = r.str();
    attempt.outcome = r.str();
    attempt.phases = get_phases(r);
    attempt.cause = get_cause(r);
    attempt.cause_message = r.str();
    attempt.resources = get_resources(r);
  }
  record.resources = get_resources(r);
  const std::size_t shown = r.count();
  std::vector<protocol::PhaseDisplay> read(shown);
  for (protocol::PhaseDisplay& display : read) {
    display.head_line = r.str();
    display.longrepr_color = r.str();
    display.skip_path = r.str();
    display.skip_lineno = r.opt<long>();
  }
  if (!r.done()) throw std::runtime_error("result store: trailing bytes after a record");
  if (displays) *displays = std::move(read);
  return record;
}

}  // namespace bulkhead

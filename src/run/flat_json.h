// A strict scanner of flat JSON objects, shared by the fast paths that decode the lines
// written once per test (the channel's, protocol_fast.h; the run record's results lines,
// run_record.cc) without building a JSON tree. It declines (returns false) whatever it does not
// take exactly as nlohmann's parser would: strings with escapes or bytes outside printable
// ASCII, minus signs, integers over 19 digits, non-finite numbers, arrays, objects nested past
// one level, more than kMaxFields fields. Callers then use the general parser.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/report/test_model.h"

namespace bulkhead::flat_json {

struct Value {
  enum class Kind { Null, Bool, String, Unsigned, Float, Object };
  Kind kind = Kind::Null;
  std::string_view text;    // String: the characters between the quotes (no escapes)
  std::uint64_t whole = 0;  // Unsigned
  double real = 0;          // Float
  std::string_view body;    // Object: the text from '{' to its '}'
};

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads JSON text from `in`; every method returns false where the fast path declines.
class Scanner {
 public:
  explicit Scanner(std::string_view in) : in_(in) {}

  void skip_space() {
    while (at_ < in_.size() && is_space(in_[at_])) ++at_;
  }
  bool at_end() const { return at_ == in_.size(); }
  bool take(char c) {
    if (at_ < in_.size() && in_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  // A string of printable ASCII without escapes (anything else: the general parser's).
  bool string(std::string_view& out) {
    if (!take('"')) return false;
    const std::size_t begin = at_;
    while (at_ < in_.size()) {
      const char c = in_[at_];
      if (c == '"') {
        out = in_.substr(begin, at_ - begin);
        ++at_;
        return true;
      }
      if (c == '\\' || c < 0x20 || c > 0x7e) return false;
      ++at_;
    }
    return false;
  }

  // JSON's number grammar; no minus sign (the fields taken here are never negative), integers
  // of at most 19 digits (they fit 64 bits), finite values.
  bool number(Value& out) {
    const std::size_t begin = at_;
    if (at_ < in_.size() && in_[at_] == '0') {
      ++at_;
    } else {
      if (at_ >= in_.size() || !is_digit(in_[at_])) return false;
      while (at_ < in_.size() && is_digit(in_[at_])) ++at_;
    }
    bool integer = true;
    if (take('.')) {
      integer = false;
      if (at_ >= in_.size() || !is_digit(in_[at_])) return false;
      while (at_ < in_.size() && is_digit(in_[at_])) ++at_;
    }
    if (at_ < in_.size() && (in_[at_] == 'e' || in_[at_] == 'E')) {
      integer = false;
      ++at_;
      if (at_ < in_.size() && (in_[at_] == '+' || in_[at_] == '-')) ++at_;
      if (at_ >= in_.size() || !is_digit(in_[at_])) return false;
      while (at_ < in_.size() && is_digit(in_[at_])) ++at_;
    }
    const char* first = in_.data() + begin;
    const char* last = in_.data() + at_;
    if (integer) {
      if (at_ - begin > 19) return false;
      out.kind = Value::Kind::Unsigned;
      return std::from_chars(first, last, out.whole).ec == std::errc();
    }
    out.kind = Value::Kind::Float;
    const auto result = std::from_chars(first, last, out.real);
    return result.ec == std::errc() && result.ptr == last && std::isfinite(out.real);
  }

  bool word(std::string_view expected) {
    if (in_.substr(at_, expected.size()) != expected) return false;
    at_ += expected.size();
    return true;
  }

  // A scalar, or (when `nested`) a flat object of scalars.
  bool value(Value& out, bool nested) {
    if (at_ >= in_.size()) return false;
    const char c = in_[at_];
    if (c == '"') {
      out.kind = Value::Kind::String;
      return string(out.text);
    }
    if (c == 'n') {
      out.kind = Value::Kind::Null;
      return word("null");
    }
    if (c == 't' || c == 'f') {
      out.kind = Value::Kind::Bool;
      return word(c == 't' ? "true" : "false");
    }
    if (c == '{' && nested) {
      const std::size_t begin = at_;
      if (!object([](std::string_view, const Value&) { return true; }, false)) return false;
      out.kind = Value::Kind::Object;
      out.body = in_.substr(begin, at_ - begin);
      return true;
    }
    return number(out);
  }

  // An object; on_field(key, value) for each field (false: decline).
  template <typename OnField>
  bool object(OnField&& on_field, bool nested) {
    if (!take('{')) return false;
    skip_space();
    if (take('}')) return true;
    while (true) {
      skip_space();
      std::string_view key;
      if (!string(key)) return false;
      skip_space();
      if (!take(':')) return false;
      skip_space();
      Value value;
      if (!this->value(value, nested) || !on_field(key, value)) return false;
      skip_space();
      if (take('}')) return true;
      if (!take(',')) return false;
    }
  }

 private:
  std::string_view in_;
  std::size_t at_ = 0;
};

// A whole line as one object (only whitespace around it).
template <typename OnField>
bool scan_line(std::string_view line, OnField&& on_field, bool nested) {
  Scanner scanner(line);
  scanner.skip_space();
  if (!scanner.object(on_field, nested)) return false;
  scanner.skip_space();
  return scanner.at_end();
}

// The fields a decoder reads, each at most once (a repeated one: declined, since the general
// parser keeps the last and these checks read the first).
template <std::size_t N>
class Known {
 public:
  explicit Known(const std::string_view (&names)[N]) : names_(names) {}
  // The field's slot, N for a field not read; false when it repeats.
  bool place(std::string_view key, const Value& value, std::size_t& slot) {
    for (slot = 0; slot < N; ++slot) {
      if (names_[slot] != key) continue;
      if (values_[slot] != nullptr) return false;
      values_[slot] = &value;
      return true;
    }
    return true;
  }
  // Absent and null are the same to the general decoder (Fields::find).
  const Value* get(std::size_t slot) const {
    return values_[slot] != nullptr && values_[slot]->kind != Value::Kind::Null ? values_[slot]
                                                                                : nullptr;
  }

 private:
  const std::string_view (&names_)[N];
  const Value* values_[N] = {};
};

// A line's top-level fields, scanned once.
struct Field {
  std::string_view key;
  Value value;
};
constexpr std::size_t kMaxFields = 24;
struct Fields {
  Field at[kMaxFields];
  std::size_t count = 0;
};

// Fields::string: absent or null is "", a string is itself, anything else an error.
inline bool text(const Value* value, std::string& out) {
  if (value == nullptr) return true;
  if (value->kind != Value::Kind::String) return false;
  out.assign(value->text);
  return true;
}

// Fields::number: any JSON number as a double (an integer converted).
inline bool real(const Value* value, double& out) {
  if (value == nullptr) return true;
  if (value->kind == Value::Kind::Unsigned) {
    out = static_cast<double>(value->whole);
    return true;
  }
  if (value->kind != Value::Kind::Float) return false;
  out = value->real;
  return true;
}

inline bool count(const Value* value, std::optional<std::uint64_t>& out) {
  if (value == nullptr) return true;
  if (value->kind != Value::Kind::Unsigned) return false;
  out = value->whole;
  return true;
}

// A whole line's (or a nested object's) fields, at most kMaxFields of them.
inline bool scan_fields(std::string_view text, Fields& fields, bool nested) {
  auto on_field = [&](std::string_view key, const Value& value) {
    if (fields.count == kMaxFields) return false;
    fields.at[fields.count++] = {key, value};
    return true;
  };
  return scan_line(text, on_field, nested);
}

// The fields a decoder reads placed in `known` (`skip`: a field read elsewhere); false when one
// repeats or (unless `nested`) a value is an object.
template <std::size_t N>
bool place_all(const Fields& fields, Known<N>& known, bool nested = false,
               std::string_view skip = {}) {
  std::size_t slot = 0;
  for (std::size_t i = 0; i < fields.count; ++i) {
    const Field& field = fields.at[i];
    if (!skip.empty() && field.key == skip) continue;
    if (!nested && field.value.kind == Value::Kind::Object) return false;
    if (!known.place(field.key, field.value, slot)) return false;
  }
  return true;
}

inline constexpr std::string_view kResourceFields[] = {
    "cpu_s",       "cpu_source", "memory_peak_bytes", "memory_start_bytes", "memory_peak_scope",
    "pids_started"};

// A test's `resources` object as the channel and the run record's lines carry it (both decoders
// check it alike): nullopt when not plain or not valid.
inline std::optional<TestResources> plain_resources(std::string_view body) {
  Fields fields;
  if (!scan_fields(body, fields, false)) return std::nullopt;
  Known known(kResourceFields);
  if (!place_all(fields, known)) return std::nullopt;
  TestResources out;
  if (const Value* cpu = known.get(0)) {
    double seconds = 0;
    if (!real(cpu, seconds)) return std::nullopt;  // never negative: no minus sign is taken
    out.cpu_s = seconds;
  }
  const bool ok =
      text(known.get(1), out.cpu_source) && count(known.get(2), out.memory_peak_bytes) &&
      count(known.get(3), out.memory_start_bytes) && text(known.get(4), out.memory_peak_scope) &&
      count(known.get(5), out.pids_started);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace bulkhead::flat_json

// A SAX handler in front of nlohmann's DOM builder: events inside the diverted array's
// elements go to a builder of their own, reset for each element.
#include "src/run/json_divert.h"

#include <cstddef>
#include <optional>
#include <string>

namespace bulkhead::protocol {
namespace {

using nlohmann::json;
using Builder = nlohmann::detail::json_sax_dom_parser<json>;

class Diverter {
 public:
  Diverter(json& root, std::string_view key, const std::function<void(json&)>& on_element)
      : outer_(root, false), key_(key), on_element_(on_element) {}

  bool null() {
    return value([](Builder& b) { return b.null(); });
  }
  bool boolean(bool v) {
    return value([v](Builder& b) { return b.boolean(v); });
  }
  bool number_integer(json::number_integer_t v) {
    return value([v](Builder& b) { return b.number_integer(v); });
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return value([v](Builder& b) { return b.number_unsigned(v); });
  }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return value([v, &s](Builder& b) { return b.number_float(v, s); });
  }
  bool string(json::string_t& v) {
    return value([&v](Builder& b) { return b.string(v); });
  }
  bool binary(json::binary_t& v) {
    return value([&v](Builder& b) { return b.binary(v); });
  }

  bool start_object(std::size_t n) {
    return open([n](Builder& b) { return b.start_object(n); });
  }
  bool start_array(std::size_t n) {
    if (depth_ == 1 && at_key_) {  // the diverted array itself: kept, empty, in the DOM
      at_key_ = false;
      in_array_ = true;
      ++depth_;
      return outer_.start_array(n);
    }
    return open([n](Builder& b) { return b.start_array(n); });
  }
  bool key(json::string_t& k) {
    if (inside()) return inner_->key(k);
    if (depth_ == 1) at_key_ = k == key_;
    return outer_.key(k);
  }
  bool end_object() {
    return close([](Builder& b) { return b.end_object(); });
  }
  bool end_array() {
    if (in_array_ && depth_ == 2) {
      in_array_ = false;
      --depth_;
      return outer_.end_array();
    }
    return close([](Builder& b) { return b.end_array(); });
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
    errored_ = true;
    return outer_.parse_error(position, token, error);
  }
  bool errored() const { return errored_ || outer_.is_errored(); }

 private:
  // Inside one of the diverted array's elements (depth_ counts open containers).
  bool inside() const { return in_array_ && depth_ > 2; }

  template <class Event>
  bool value(Event event) {
    if (in_array_ && depth_ == 2) {  // a scalar element
      begin_element();
      event(*inner_);
      return end_element();
    }
    if (depth_ == 1) at_key_ = false;
    return inside() ? event(*inner_) : event(outer_);
  }
  template <class Event>
  bool open(Event event) {
    if (in_array_ && depth_ == 2) begin_element();
    if (depth_ == 1) at_key_ = false;
    const bool inner = inside() || (in_array_ && depth_ == 2);
    ++depth_;
    return inner ? event(*inner_) : event(outer_);
  }
  template <class Event>
  bool close(Event event) {
    const bool inner = inside();
    --depth_;
    if (!inner) return event(outer_);
    event(*inner_);
    return depth_ == 2 ? end_element() : true;
  }

  void begin_element() {
    element_ = json();
    inner_.emplace(element_, false);
  }
  bool end_element() {
    inner_.reset();
    on_element_(element_);
    element_ = json();
    return true;
  }

  Builder outer_;
  std::string_view key_;
  const std::function<void(json&)>& on_element_;
  std::optional<Builder> inner_;
  json element_;
  std::size_t depth_ = 0;
  bool at_key_ = false;    // the last key at depth 1 was `key_`
  bool in_array_ = false;  // inside the diverted array
  bool errored_ = false;
};

}  // namespace

bool parse_diverting(std::string_view text, std::string_view key, json& root,
                     const std::function<void(json&)>& on_element) {
  Diverter diverter(root, key, on_element);
  const bool parsed = json::sax_parse(text, &diverter);
  return parsed && !diverter.errored();
}

}  // namespace bulkhead::protocol

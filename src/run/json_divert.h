// Parsing one JSON line into a DOM while one array of its top-level object is handed out an
// element at a time: the `collected` event lists every test in `items`, and a DOM of 100 000
// of them costs ~30 MB more than the decoded items it is turned into.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

namespace bulkhead::protocol {

// Parses `text` (one JSON value, nothing after it) into `root`. If `root` is an object whose
// `key` member is an array, each element of that array is parsed into a value of its own,
// passed to `on_element` and freed; the array stays in `root`, empty. Exceptions from
// `on_element` propagate. Returns false, `root` unspecified, on malformed JSON.
bool parse_diverting(std::string_view text, std::string_view key, nlohmann::json& root,
                     const std::function<void(nlohmann::json&)>& on_element);

}  // namespace bulkhead::protocol

// The fast path for the channel lines every test sends (`start`, a passed phase's compact
// `report`, `finished`): a strict scanner of flat JSON objects that decodes them without
// building a JSON tree. It takes only lines it can decode exactly as protocol::decode_event's
// general parser would (plain ASCII strings without escapes, unsigned integers, finite
// numbers, no arrays, `resources` the only nested object, no repeated field); anything else,
// valid or not, is left to the general parser, which also makes every error message.
#pragma once

#include <optional>
#include <string_view>

#include "src/run/protocol.h"

namespace bulkhead::protocol {

// The event, or nullopt when the line is not one the fast path takes.
std::optional<Event> decode_common_event(std::string_view line);

}  // namespace bulkhead::protocol

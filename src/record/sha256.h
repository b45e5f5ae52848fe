// SHA-256 (FIPS 180-4) of a byte string, for hashing secret-looking values in run records.
#pragma once

#include <string>
#include <string_view>

namespace bulkhead::record {

// The digest as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace bulkhead::record

// FNV-1a, 64 bits: a hash of bytes that is the same on every machine and build (the shard
// partition's digest, the duration table's keys).
#pragma once

#include <cstddef>
#include <cstdint>

namespace bulkhead {

inline constexpr uint64_t kFnvOffset = 14695981039346656037ull;

// Folds `size` bytes at `data` into `hash` (start from kFnvOffset).
inline void fnv1a(uint64_t& hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
}

}  // namespace bulkhead

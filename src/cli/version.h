// bulkhead's version, as `--version`, the run header and run records print it.
#pragma once

namespace bulkhead {

inline constexpr const char* kBulkheadVersion = "0.1.0";

}  // namespace bulkhead

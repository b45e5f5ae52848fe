// libFuzzer target: a pyproject.toml's text, read for [tool.pytest-bulkhead] as `bulkhead run`
// reads it. UserError is the one expected failure: a crash, a sanitizer report or any other
// exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sandbox/error.h"
#include "src/cli/run_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bulkhead::RunOptions options;
  try {
    bulkhead::apply_pyproject_text(text, "pyproject.toml", options);
  } catch (const bulkhead::UserError&) {
  }
  return 0;
}

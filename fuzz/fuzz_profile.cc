// libFuzzer target: a sandbox profile's JSON text, parsed as `--profile FILE` would read it
// (extends by name resolves in the shipped profiles). ProfileError is the one expected
// failure: a crash, a sanitizer report or any other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sandbox/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // `extends` may name any file; keep the fuzzer to the shipped profiles (a path to a device
  // or /proc would read the machine, not the parser).
  for (const char* outside : {"/dev", "/proc", "/sys", ".."}) {
    if (text.find(outside) != std::string::npos) return -1;
  }
  static const std::vector<std::string> dirs = {std::string(BULKHEAD_SOURCE_DIR) + "/profiles"};
  try {
    const bulkhead::sandbox::Profile profile =
        bulkhead::sandbox::parse_profile(text, dirs[0] + "/fuzzed.json", dirs);
    for (const auto& [key, value] : profile.env) {
      (void)bulkhead::sandbox::expand_template(value, {{"worker", "gw0"}, {"run_id", "r"}});
    }
  } catch (const bulkhead::sandbox::ProfileError&) {
  }
  return 0;
}

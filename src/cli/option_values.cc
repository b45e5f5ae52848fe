// Option values as text: counts, positive numbers, durations, sizes (see option_values.h).
#include "src/cli/option_values.h"

#include "sandbox/error.h"
#include "sandbox/profile.h"

namespace bulkhead {

uint64_t parse_count(const std::string& text, const char* what) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text[0] == '-') {
    throw UserError(std::string("expected ") + what + ", got '" + text + "'");
  }
  return value;
}

double parse_positive(const std::string& text, const char* what) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !(value > 0)) {
    throw UserError(std::string("expected ") + what + ", got '" + text + "'");
  }
  return value;
}

double parse_duration(const std::string& text) {
  auto value = sandbox::parse_duration_s(text);
  if (!value || *value <= 0) {
    throw UserError("expected a duration like 30, 2.5s, 500ms or 2m, got '" + text + "'");
  }
  return *value;
}

uint64_t parse_size(const std::string& text) {
  auto value = sandbox::parse_size(text);
  if (!value) throw UserError("expected a size like 512M or 1G, got '" + text + "'");
  return *value;
}

}  // namespace bulkhead

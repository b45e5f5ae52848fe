// Option values as text: counts, positive numbers, durations, sizes (see option_values.h).
#include "src/cli/option_values.h"

#include <filesystem>

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

std::string parse_image(const std::string& text) {
  if (text.rfind("dir:", 0) != 0 || text.size() == 4) {
    throw UserError(
        "expected dir:PATH (a directory holding a root filesystem, see images/), got '" + text +
        "'");
  }
  std::error_code ec;
  auto path = std::filesystem::absolute(text.substr(4), ec).lexically_normal().string();
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  if (ec || !std::filesystem::is_directory(path, ec)) {
    throw UserError("'" + path + "' is not a directory");
  }
  if (!std::filesystem::is_directory(path + "/usr", ec)) {
    throw UserError("'" + path + "' has no usr/: not a root filesystem (build one with images/)");
  }
  return path;
}

}  // namespace bulkhead

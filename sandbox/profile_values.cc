// Value syntax shared by profiles and the command line (owns part of sandbox/profile.h):
// sizes ("512M"), durations ("1.5s") and env templates ("app_{worker}").
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "sandbox/profile.h"

namespace bulkhead::sandbox {
namespace {

bool parse_decimal(const std::string& text, size_t& pos, double& value) {
  const size_t start = pos;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos == start) return false;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t frac = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == frac) return false;
  }
  // Only digits and one '.', so the C locale's strtod reads it exactly as written.
  value = std::strtod(text.substr(start, pos - start).c_str(), nullptr);
  return std::isfinite(value);
}

}  // namespace

std::optional<uint64_t> parse_size(const std::string& text) {
  size_t pos = 0;
  double number = 0;
  if (!parse_decimal(text, pos, number)) return std::nullopt;
  const bool fractional = text.find('.') < pos;
  std::string suffix = text.substr(pos);
  std::transform(suffix.begin(), suffix.end(), suffix.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Accepted: "", "b", "k", "kb", "kib" and the same for m, g, t. Units are binary (1K = 1024).
  double multiplier = 1;
  if (!suffix.empty() && suffix != "b") {
    const std::string units = "kmgt";
    const size_t unit = units.find(suffix[0]);
    if (unit == std::string::npos) return std::nullopt;
    const std::string rest = suffix.substr(1);
    if (!rest.empty() && rest != "b" && rest != "ib") return std::nullopt;
    multiplier = std::pow(1024.0, static_cast<double>(unit + 1));
  } else if (fractional) {
    return std::nullopt;  // "1.5" bytes means nothing
  }
  if (!fractional && multiplier == 1) {
    // Exact integer path for plain byte counts above 2^53.
    uint64_t exact = 0;
    for (size_t i = 0; i < pos; ++i) {
      const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
      if (exact > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
      exact = exact * 10 + digit;
    }
    return exact;
  }
  const double bytes = std::floor(number * multiplier);
  if (bytes >= 18446744073709551616.0) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

std::optional<double> parse_duration_s(const std::string& text) {
  size_t pos = 0;
  double number = 0;
  if (!parse_decimal(text, pos, number)) return std::nullopt;
  const std::string suffix = text.substr(pos);
  double scale = 0;
  if (suffix.empty() || suffix == "s") {
    scale = 1;
  } else if (suffix == "ms") {
    scale = 0.001;
  } else if (suffix == "m" || suffix == "min") {
    scale = 60;
  } else if (suffix == "h") {
    scale = 3600;
  } else {
    return std::nullopt;
  }
  const double seconds = number * scale;
  if (!std::isfinite(seconds)) return std::nullopt;
  return seconds;
}

std::string expand_template(const std::string& text,
                            const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;  // "{{" -> "{", "}}" -> "}"
      ++i;
      continue;
    }
    if (c == '{') {
      const size_t close = text.find('}', i + 1);
      if (close != std::string::npos) {
        const auto it = vars.find(text.substr(i + 1, close - i - 1));
        if (it != vars.end()) {
          out += it->second;
          i = close;
          continue;
        }
      }
    }
    out += c;
  }
  return out;
}

}  // namespace bulkhead::sandbox

// Option values as text, shared by the command line of `run` and `exec` and by
// `[tool.pytest-bulkhead]`: each parses one value or throws UserError saying what was expected
// and what was found, without location (the caller names the option, file or key).
#pragma once

#include <cstdint>
#include <string>

namespace bulkhead {

uint64_t parse_count(const std::string& text, const char* what);   // "4"
double parse_positive(const std::string& text, const char* what);  // "1.5"
double parse_duration(const std::string& text);                    // "30", "2.5s", "500ms"
uint64_t parse_size(const std::string& text);                      // "512M", "1G"
// "dir:PATH" -> the absolute PATH of a directory holding a root filesystem (usr/ in it).
std::string parse_image(const std::string& text);

}  // namespace bulkhead

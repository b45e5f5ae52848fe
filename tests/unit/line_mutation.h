// Random small edits of a protocol line, for the unit tests that check a fast decoder against
// the general JSON parser on lines the fast path must take or leave exactly alike.
#pragma once

#include <random>
#include <string>

namespace bulkhead {

// One to three edits: a byte erased, inserted or replaced (from characters JSON cares about),
// or a piece of the line repeated elsewhere (fields twice, nesting).
inline std::string mutated_line(std::string line, std::mt19937& random) {
  static const std::string alphabet = "{}[]\":,. -+eE0123456789nultrfasx\\\t\xc3\xa9";
  const int edits = 1 + static_cast<int>(random() % 3);
  for (int e = 0; e < edits && !line.empty(); ++e) {
    const std::size_t at = random() % line.size();
    const char c = alphabet[random() % alphabet.size()];
    switch (random() % 4) {
      case 0:
        line.erase(at, 1);
        break;
      case 1:
        line.insert(at, 1, c);
        break;
      case 2:
        line[at] = c;
        break;
      default: {
        const std::size_t length = 1 + random() % 24;
        line.insert(random() % line.size(), line.substr(at, length));
      }
    }
  }
  return line;
}

}  // namespace bulkhead

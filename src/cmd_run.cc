// PLACEHOLDER until the run supervisor lands (issue 3).
#include <cstdio>

#include "src/commands.h"

namespace bulkhead {
int cmd_run(int, char**) {
  std::fputs("bulkhead run: not built yet\n", stderr);
  return 3;
}
}  // namespace bulkhead

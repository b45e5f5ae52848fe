// pytest run directly on the host, for the invocations that run no test and only read or
// print pytest's own state (`--cache-show`): no sandbox, no workers, pytest's own output.
#pragma once

#include <string>
#include <vector>

namespace bulkhead {

// Runs `python -m pytest <args>` in the current directory with the caller's stdio and
// environment; returns its exit status (128+N when a signal ended it). Throws SysError when it
// cannot be started.
int run_pytest_on_host(const std::string& python, const std::vector<std::string>& args);

}  // namespace bulkhead

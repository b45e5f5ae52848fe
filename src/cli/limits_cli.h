// The resource-limit options of `bulkhead exec` (--memory, --cpus, --pids, --nofile,
// --timeout), parsed with the values parsers `run` uses and laid over the profile's limits.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "sandbox/profile.h"

namespace bulkhead {

struct LimitOptions {
  std::string memory, cpus, pids, nofile, timeout;
};

// `timeout_help` says what --timeout bounds in this command (a test, a whole sandbox).
void add_limit_options(CLI::App& app, LimitOptions& options,
                       const std::string& timeout_help = "Wall-clock limit, e.g. 10s, 500ms, 2m");

// Overrides `limits` with what was given. `timeout_is_per_test` puts --timeout into
// test_timeout_s, else worker_timeout_s. Throws UserError naming the option and the value.
void apply_limit_options(const LimitOptions& options, sandbox::Limits& limits,
                         bool timeout_is_per_test = false);

}  // namespace bulkhead

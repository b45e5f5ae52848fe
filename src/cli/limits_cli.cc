// Resource-limit options of exec.
#include "src/cli/limits_cli.h"

#include "sandbox/error.h"
#include "src/cli/option_values.h"

namespace bulkhead {

void add_limit_options(CLI::App& app, LimitOptions& options, const std::string& timeout_help) {
  app.add_option("--memory", options.memory, "Memory limit per sandbox, e.g. 512M, 2G");
  app.add_option("--cpus", options.cpus, "CPU quota per sandbox in cores, e.g. 1.5");
  app.add_option("--pids", options.pids, "Maximum number of processes per sandbox");
  app.add_option("--nofile", options.nofile, "Maximum open files per process (RLIMIT_NOFILE)");
  app.add_option("--timeout", options.timeout, timeout_help);
}

void apply_limit_options(const LimitOptions& options, sandbox::Limits& limits,
                         bool timeout_is_per_test) {
  // Each value through the parser `run` uses too; the message gains the option's name.
  auto named = [](const char* option, auto parse) {
    try {
      return parse();
    } catch (const UserError& e) {
      throw UserError(std::string(option) + ": " + e.what());
    }
  };
  if (!options.memory.empty()) {
    limits.memory_bytes = named("--memory", [&] { return parse_size(options.memory); });
  }
  if (!options.cpus.empty()) {
    limits.cpus =
        named("--cpus", [&] { return parse_positive(options.cpus, "a number of cores"); });
  }
  if (!options.pids.empty()) {
    limits.pids = named("--pids", [&] { return parse_count(options.pids, "a count"); });
  }
  if (!options.nofile.empty()) {
    limits.nofile = named("--nofile", [&] { return parse_count(options.nofile, "a count"); });
  }
  if (!options.timeout.empty()) {
    (timeout_is_per_test ? limits.test_timeout_s : limits.worker_timeout_s) =
        named("--timeout", [&] { return parse_duration(options.timeout); });
  }
}

}  // namespace bulkhead

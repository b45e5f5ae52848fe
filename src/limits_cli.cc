// Shared resource-limit options for exec and run.
#include "src/limits_cli.h"

#include "sandbox/error.h"

namespace bulkhead {

void add_limit_options(CLI::App& app, LimitOptions& options, const std::string& timeout_help) {
  app.add_option("--memory", options.memory, "Memory limit per sandbox, e.g. 512M, 2G");
  app.add_option("--cpus", options.cpus, "CPU quota per sandbox in cores, e.g. 1.5");
  app.add_option("--pids", options.pids, "Maximum number of processes per sandbox");
  app.add_option("--nofile", options.nofile, "Maximum open files per process (RLIMIT_NOFILE)");
  app.add_option("--timeout", options.timeout, timeout_help);
}

namespace {

uint64_t positive_count(const std::string& option, const std::string& text) {
  try {
    size_t used = 0;
    unsigned long long value = std::stoull(text, &used);
    if (used == text.size() && value > 0) return value;
  } catch (const std::exception&) {
  }
  throw UserError(option + ": expected a positive whole number, got '" + text + "'");
}

}  // namespace

void apply_limit_options(const LimitOptions& options, sandbox::Limits& limits,
                         bool timeout_is_per_test) {
  if (!options.memory.empty()) {
    auto bytes = sandbox::parse_size(options.memory);
    if (!bytes || *bytes == 0) {
      throw UserError("--memory: expected a size like 512M or 2G, got '" + options.memory + "'");
    }
    limits.memory_bytes = bytes;
  }
  if (!options.cpus.empty()) {
    double cpus = 0;
    try {
      size_t used = 0;
      cpus = std::stod(options.cpus, &used);
      if (used != options.cpus.size()) cpus = 0;
    } catch (const std::exception&) {
    }
    if (!(cpus > 0)) {
      throw UserError("--cpus: expected a positive number of cores like 1.5, got '" +
                      options.cpus + "'");
    }
    limits.cpus = cpus;
  }
  if (!options.pids.empty()) limits.pids = positive_count("--pids", options.pids);
  if (!options.nofile.empty()) limits.nofile = positive_count("--nofile", options.nofile);
  if (!options.timeout.empty()) {
    auto seconds = sandbox::parse_duration_s(options.timeout);
    if (!seconds || *seconds <= 0) {
      throw UserError("--timeout: expected a duration like 10s, 500ms or 2m, got '" +
                      options.timeout + "'");
    }
    (timeout_is_per_test ? limits.test_timeout_s : limits.worker_timeout_s) = seconds;
  }
}

}  // namespace bulkhead

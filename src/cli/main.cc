// bulkhead: runs a pytest suite across sandboxed workers. Dispatches to a subcommand.
#include <cstdio>
#include <cstring>
#include <string>

#include "src/cli/commands.h"
#include "src/cli/version.h"

namespace {

constexpr const char* kUsage =
    "usage: bulkhead <command> [options]\n"
    "\n"
    "commands:\n"
    "  run      run a pytest suite across N sandboxed workers (bulkhead run -n 4 tests/)\n"
    "  merge    merge the shards' JSON reports into one result (bulkhead merge -o junit.xml "
    "--json all.json shard-*.json)\n"
    "  runs     list the run records, newest first\n"
    "  show     a run's record, or where a test ran and after what (bulkhead show [RUN] "
    "[NODEID])\n"
    "  repro    replay a failed test's sandbox sequence and the test alone: consistent, "
    "order-dependent or flaky\n"
    "  bisect   find the earlier tests that make an order-dependent test fail\n"
    "  exec     run one command in a sandbox (bulkhead exec --memory 512M -- CMD...)\n"
    "  doctor   report what this kernel and user allow, and which python has pytest\n"
    "\n"
    "bulkhead <command> --help shows the command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("bulkhead %s\n", bulkhead::kBulkheadVersion);
    return 0;
  }
  const std::string command = argv[1];
  if (command == "run") return bulkhead::cmd_run(argc - 1, argv + 1);
  if (command == "merge") return bulkhead::cmd_merge(argc - 1, argv + 1);
  if (command == "runs") return bulkhead::cmd_runs(argc - 1, argv + 1);
  if (command == "show") return bulkhead::cmd_show(argc - 1, argv + 1);
  if (command == "repro") return bulkhead::cmd_repro(argc - 1, argv + 1);
  if (command == "bisect") return bulkhead::cmd_bisect(argc - 1, argv + 1);
  if (command == "exec") return bulkhead::cmd_exec(argc - 1, argv + 1);
  if (command == "doctor") return bulkhead::cmd_doctor(argc - 1, argv + 1);
  std::fprintf(stderr, "bulkhead: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}

// `bulkhead merge`: the JSON reports of a sharded run's shards into one result: JUnit, JSON,
// HTML, pytest's last-failed cache and the durations, a pytest-like summary, and the exit
// status one run would have had (see src/merge/merge.h, docs/ci.md).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sandbox/error.h"
#include "src/cli/commands.h"
#include "src/cli/project_root.h"
#include "src/merge/merge.h"
#include "src/merge/report_reader.h"
#include "src/report/json.h"
#include "src/report/junit.h"
#include "src/report/outcome.h"
#include "src/report/terminal.h"
#include "src/report/views/views.h"
#include "src/shard/durations.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

struct MergeOptions {
  std::vector<std::string> reports;
  std::string junitxml;
  std::string json_path;
  std::string html;
  std::string trace;
  bool store_durations = false;
  std::string durations_path = ".test_durations";
  bool no_lastfailed = false;
  std::string color = "auto";
};

// pytest's last-failed cache, updated from the merged result as pytest's cacheprovider would
// after a run: failures (and tests no shard ran) in, passes and skips out. Returns its path.
std::string write_lastfailed(const std::vector<TestRecord>& tests) {
  const fs::path dir = fs::path(project_root(fs::current_path().string())) / ".pytest_cache";
  const fs::path path = dir / "v" / "cache" / "lastfailed";
  nlohmann::json lastfailed = nlohmann::json::object();
  if (std::ifstream file(path); file) {
    std::stringstream text;
    text << file.rdbuf();
    auto old = nlohmann::json::parse(text.str(), nullptr, false);
    if (old.is_object()) lastfailed = std::move(old);
  }
  for (const TestRecord& test : tests) {
    const std::string outcome = overall_outcome(test);
    if (outcome == "failed" || outcome == "error" || outcome == "notrun") {
      lastfailed[test.nodeid] = true;
    } else {
      lastfailed.erase(test.nodeid);
    }
  }
  std::error_code error;
  const bool fresh = !fs::exists(dir, error);
  fs::create_directories(path.parent_path(), error);
  if (error) throw SysError("mkdir " + path.parent_path().string(), error.value());
  if (fresh) {  // what pytest puts in a cache directory it creates
    write_file_atomically((dir / ".gitignore").string(), "# Created by pytest automatically.\n*\n");
    write_file_atomically((dir / "CACHEDIR.TAG").string(),
                          "Signature: 8a477f597d28d172789f06886806bc55\n");
  }
  write_file_atomically(path.string(), lastfailed.dump(2, ' ', false) + "\n");
  return path.string();
}

void print_shards(Terminal& terminal, const MergeResult& merged) {
  for (const ShardSummary& shard : merged.shards) {
    std::string text = "shard " + std::to_string(shard.index) + "/" + std::to_string(shard.total) +
                       ": " + std::to_string(shard.tests) + " tests";
    if (shard.exit_code < 0) {
      terminal.line(
          text + ", " + shard.problem + ": " + std::to_string(shard.tests) + " tests not run",
          "red", true);
      continue;
    }
    char wall[32];
    std::snprintf(wall, sizeof wall, "%.1f", shard.duration);
    terminal.line(text + ", exit " + std::to_string(shard.exit_code) + ", " + wall + " s (" +
                  shard.source + ") " + shard.file);
  }
}

int merge(const MergeOptions& options) {
  TerminalOptions terminal_options;
  terminal_options.color = decide_color(options.color, STDOUT_FILENO);
  terminal_options.width = terminal_width(STDOUT_FILENO);
  Terminal terminal(stdout, terminal_options);

  std::vector<ShardInput> inputs;
  for (const std::string& path : options.reports) {
    try {
      inputs.push_back(read_shard_report(path));
    } catch (const UserError& error) {
      std::fprintf(stderr, "bulkhead merge: %s\n", error.what());
      return 3;
    }
  }
  MergeResult merged = merge_shards(std::move(inputs));
  if (!merged.errors.empty()) {
    for (const std::string& error : merged.errors) {
      std::fprintf(stderr, "bulkhead merge: %s\n", error.c_str());
    }
    return 3;
  }
  terminal.separator('=', "bulkhead merge: " + std::to_string(merged.shards.size()) + " shards",
                     nullptr, true);
  print_shards(terminal, merged);

  merged.run.shards = merged.shards;
  SummaryInput summary;
  for (const TestRecord& test : merged.tests) summary.tests.push_back({&test, nullptr});
  summary.not_run_shown = merged.not_run;
  summary.duration_s = merged.run.duration;
  terminal.summary(summary);

  try {
    // Merge keeps its records in memory; the writers read them as a run's from its store.
    const ResultStore store = ResultStore::from(merged.tests);
    if (!options.junitxml.empty()) {
      write_junit_xml(options.junitxml, store, merged.run);
      terminal.line("generated xml file: " + fs::absolute(options.junitxml).string());
    }
    if (!options.json_path.empty()) write_json_report(options.json_path, store, merged.run);
    write_report_views(
        {options.html, options.trace},
        [&](const TextOut& out) { stream_json_text(store, merged.run, out); }, terminal);
    if (options.store_durations) {
      store_test_durations(options.durations_path, measured_durations(store));
      terminal.line("stored test durations in " + options.durations_path);
    }
    if (!options.no_lastfailed) {
      terminal.line("last failed (for --lf): " + write_lastfailed(merged.tests));
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bulkhead merge: writing reports: %s\n", error.what());
    return 3;
  }
  return merged.exit_code;
}

}  // namespace

int cmd_merge(int argc, char** argv) {
  MergeOptions options;
  CLI::App app{
      "Merges the JSON reports of a sharded run (bulkhead run --shard ... --json) into one "
      "result: every collected test once, a missing shard's tests not run, counts recomputed.",
      "bulkhead merge"};
  app.add_option("reports", options.reports, "The shards' JSON reports")->required();
  app.add_option("-o,--junitxml,--junit-xml", options.junitxml, "Write the merged JUnit XML");
  app.add_option("--json", options.json_path, "Write the merged JSON report");
  app.add_option("--html", options.html, "Write a self-contained HTML report");
  app.add_option("--trace", options.trace, "Write a Chrome trace / Perfetto JSON");
  app.add_flag("--store-durations", options.store_durations,
               "Write the merged durations to --durations-path (pytest-split's format)");
  app.add_option("--durations-path", options.durations_path,
                 "pytest-split's durations file (default .test_durations)");
  app.add_flag("--no-lastfailed", options.no_lastfailed,
               "Do not write the last-failed set to pytest's cache (.pytest_cache)");
  app.add_option("--color", options.color, "yes | no | auto")
      ->check(CLI::IsMember({"yes", "no", "auto"}));
  app.footer(
      "Exit status: 0 all passed, 1 tests failed or were not run (a missing shard), 2 a shard "
      "was interrupted, 3 reports that do not belong together or cannot be read, 4 usage, 5 no "
      "tests.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) {
      std::fputs(app.help().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "bulkhead merge: %s\n", error.what());
    return 4;
  }
  try {
    return merge(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bulkhead merge: internal error: %s\n", error.what());
    return 3;
  }
}

}  // namespace bulkhead

// `bulkhead runs` and `bulkhead show [RUN] [NODEID]`: the run records (src/record/) read back.
// Exit status 0, or 2 for a missing or unknown run or node id, or a damaged record.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "sandbox/error.h"
#include "src/cli/commands.h"
#include "src/cli/record_location.h"
#include "src/record/record_views.h"
#include "src/record/record_writer.h"
#include "src/record/run_record.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

int fail(const char* command, const std::string& message) {
  std::fprintf(stderr, "bulkhead %s: %s\n", command, message.c_str());
  return 2;
}

// Whether a lone argument of `show` is a node id rather than a run id.
bool looks_like_nodeid(const std::string& text) {
  return text.find("::") != std::string::npos || text.find(".py") != std::string::npos ||
         text.find('/') != std::string::npos;
}

}  // namespace

int cmd_runs(int argc, char** argv) {
  CLI::App app{"Lists the run records, newest first: id, start, exit status, wall time, counts.",
               "bulkhead runs"};
  std::string record_dir;
  app.add_option("--record-dir", record_dir,
                 "The records' directory (default: as `bulkhead run` writes them)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  try {
    const std::string dir = find_runs_dir(record_dir, fs::current_path().string());
    const std::vector<std::string> ids = record::list_runs(dir);
    if (ids.empty()) return fail("runs", "no run records in " + dir);
    std::vector<std::unique_ptr<record::RunRecord>> runs;
    std::vector<record::RunListing> rows;
    for (const std::string& id : ids) {
      record::RunListing row;
      row.run_id = id;
      try {
        runs.push_back(std::make_unique<record::RunRecord>(record::read_run(dir, id)));
        row.run = runs.back().get();
        row.running = !row.run->finished && record::run_in_progress(row.run->dir);
      } catch (const record::RecordError& error) {
        row.problem = error.what();
      }
      rows.push_back(std::move(row));
    }
    std::fputs(record::runs_table(rows).c_str(), stdout);
    return 0;
  } catch (const std::exception& error) {
    return fail("runs", error.what());
  }
}

int cmd_show(int argc, char** argv) {
  CLI::App app{
      "Shows a run's record (command, versions, limits, counts, sandboxes), or with NODEID the "
      "test's result, where it ran (worker, sandbox, position) and what its sandbox ran before it.",
      "bulkhead show"};
  std::vector<std::string> positional;
  std::string record_dir;
  std::size_t last_few = 5;
  app.add_option("ARGS", positional,
                 "[RUN] [NODEID]: RUN a run id or a unique prefix (default: "
                 "the last run)");
  app.add_option("--record-dir", record_dir,
                 "The records' directory (default: as `bulkhead run` writes them)");
  app.add_option("--last", last_few, "How many of the tests before NODEID to list (default 5)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  if (positional.size() > 2) return fail("show", "expected [RUN] [NODEID], got more arguments");
  std::string wanted_run;
  std::string nodeid;
  if (positional.size() == 2) {
    wanted_run = positional[0];
    nodeid = positional[1];
  } else if (positional.size() == 1) {
    (looks_like_nodeid(positional[0]) ? nodeid : wanted_run) = positional[0];
  }
  try {
    const std::string dir = find_runs_dir(record_dir, fs::current_path().string());
    const std::string id = record::resolve_run(dir, wanted_run);
    const record::RunRecord run = record::read_run(dir, id);
    if (nodeid.empty()) {
      const bool running = !run.finished && record::run_in_progress(run.dir);
      std::fputs(record::run_summary(run, running).c_str(), stdout);
      return 0;
    }
    const record::RecordedTest* test = record::find_recorded_test(run, nodeid);
    if (!test) return fail("show", "no test '" + nodeid + "' in run " + id + " (" + run.dir + ")");
    std::fputs(record::test_view(run, *test, last_few).c_str(), stdout);
    return 0;
  } catch (const std::exception& error) {
    return fail("show", error.what());
  }
}

}  // namespace bulkhead

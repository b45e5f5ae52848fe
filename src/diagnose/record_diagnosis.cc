// Reading a run record into a Diagnosis; see record_diagnosis.h.
#include "src/diagnose/record_diagnosis.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "sandbox/profile.h"
#include "src/cli/paths.h"
#include "src/cli/project_root.h"
#include "src/record/git_head.h"
#include "src/record/run_record.h"

extern char** environ;

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

// The directory the record's relative cwd is relative to: the project holding the records
// (<project>/.bulkhead/runs), else the recorded rootdir, else the current project.
std::string replay_rootdir(const std::string& runs_dir, const record::RunRecord& run) {
  const fs::path runs = fs::absolute(runs_dir).lexically_normal();
  const fs::path dot = runs.parent_path();
  if (runs.filename() == "runs" && dot.filename() == ".bulkhead") return dot.parent_path();
  std::error_code error;
  if (!run.rootdir.empty() && fs::is_directory(run.rootdir, error)) return run.rootdir;
  return project_root(fs::current_path().string());
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const auto equals = text.find('=');
    if (equals != std::string::npos) env[text.substr(0, equals)] = text.substr(equals + 1);
  }
  return env;
}

// "no test X in run R" with the run's node ids that contain X, as a hint.
std::string unknown_test(const record::RunRecord& run, const std::string& nodeid) {
  std::string text = "no test " + nodeid + " in run " + run.run_id;
  std::vector<std::string> near;
  for (const record::RecordedTest& test : run.tests) {
    if (test.attempt == 0 && test.nodeid.find(nodeid) != std::string::npos) {
      near.push_back(test.nodeid);
    }
  }
  if (!near.empty()) {
    text += "; did you mean:";
    for (std::size_t i = 0; i < near.size() && i < 5; ++i) text += "\n  " + near[i];
    if (near.size() > 5) text += "\n  ... and " + std::to_string(near.size() - 5) + " more";
  }
  return text;
}

}  // namespace

RecordedFailure read_recorded_failure(const std::string& runs_dir, const std::string& wanted,
                                      const std::string& nodeid) {
  record::RunRecord run;
  try {
    run = record::read_run(runs_dir, record::resolve_run(runs_dir, wanted));
  } catch (const record::RecordError& error) {
    throw DiagnoseStop(error.what(), kDiagnoseBadInput);
  }
  const record::RecordedTest* test = record::find_recorded_test(run, nodeid);
  if (test == nullptr) throw DiagnoseStop(unknown_test(run, nodeid), kDiagnoseBadInput);
  if (test->worker.empty() || test->sandbox < 0) {
    throw DiagnoseStop(nodeid + " never ran in run " + run.run_id +
                           (test->cause_message.empty() ? "" : " (" + test->cause_message + ")") +
                           ": there is no sequence to replay",
                       kDiagnoseBadInput);
  }
  if (run.argv.size() < 2) {
    throw DiagnoseStop("run " + run.run_id + " recorded no command line to replay",
                       kDiagnoseBadInput);
  }
  RecordedFailure out;
  Diagnosis& diagnosis = out.diagnosis;
  const std::string rootdir = replay_rootdir(runs_dir, run);
  diagnosis.target.argv = run.argv;
  diagnosis.target.cwd = fs::path(run.cwd).is_absolute()
                             ? run.cwd
                             : (fs::path(rootdir) / run.cwd).lexically_normal().string();
  diagnosis.target.worker = test->worker;
  diagnosis.target.workers = std::max(1, run.settings.workers);
  diagnosis.target.nodeid = test->nodeid;
  // pytest-randomly's seed, when bulkhead chose it: the workers got it, the command line not.
  if (const auto seed = run.seeds.find("randomly"); seed != run.seeds.end()) {
    const bool given = std::any_of(run.argv.begin(), run.argv.end(), [](const std::string& arg) {
      return arg.rfind("--randomly-seed", 0) == 0;
    });
    if (!given) diagnosis.target.extra_args.push_back("--randomly-seed=" + seed->second);
  }
  diagnosis.run_id = run.run_id;
  diagnosis.recorded_outcome = test->outcome;
  diagnosis.recorded_cause = test->cause;
  diagnosis.sandbox = test->sandbox;
  diagnosis.python = run.python;
  diagnosis.lists_dir = run.dir + "/replays";
  for (const record::RecordedTest* ran : record::sandbox_sequence(run, *test)) {
    if (ran != test) diagnosis.predecessors.push_back(ran->nodeid);
  }
  out.failed = test->outcome == "failed" || test->outcome == "error";

  std::set<std::string> ignored;  // what bulkhead itself sets or drops for the workers
  try {
    const sandbox::Profile profile = sandbox::load_profile(
        run.profile_path.empty() ? run.profile : run.profile_path, {profiles_dir()});
    for (const auto& [name, value] : profile.env) ignored.insert(name);
    ignored.insert(profile.env_unset.begin(), profile.env_unset.end());
  } catch (const std::exception& error) {
    out.env_note = std::string("the profile's env could not be told apart: ") + error.what();
  }
  if (!run.git_commit.empty()) {
    const std::string now = record::git_head_commit(rootdir);
    if (now != run.git_commit) {
      out.commit_note = "the checkout is at " + (now.empty() ? "no commit" : now.substr(0, 12)) +
                        ", the run was at " + run.git_commit.substr(0, 12);
    }
  }
  out.env = env_differences(record::worker_env(run, test->worker), current_environment(), ignored);
  return out;
}

}  // namespace bulkhead

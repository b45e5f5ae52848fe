// RunRecorder (run_recorder.h): the glue between the supervisor's events and RecordWriter.
#include "src/record/run_recorder.h"

#include <filesystem>
#include <map>

#include "src/record/git_head.h"
#include "src/report/outcome.h"

namespace bulkhead::record {
namespace {

namespace fs = std::filesystem;

// `path` relative to `base` when it lies inside `root`; otherwise unchanged.
std::string inside(const std::string& path, const std::string& root, const std::string& base) {
  if (path.empty() || path[0] != '/' || root.empty()) return path;
  const fs::path normal = fs::path(path).lexically_normal();
  const fs::path from_root = normal.lexically_relative(root);
  if (from_root.empty() || *from_root.begin() == "..") return path;
  return normal.lexically_relative(base).string();
}

}  // namespace

RecordedTest recorded_test(const TestRecord& test) {
  RecordedTest out;
  out.index = test.index;
  out.nodeid = test.nodeid;
  const bool ran = test.cause != Cause::NotRun && test.sandbox >= 0;
  out.worker = ran ? test.worker : "";
  out.sandbox = ran ? test.sandbox : -1;
  out.seq = ran ? test.seq : -1;
  out.outcome = overall_outcome(test);
  out.cause = cause_name(test.cause);
  out.cause_message = test.cause_message;
  out.resources = test.resources;
  for (const PhaseReport& phase : test.phases) {
    if (phase.start > 0 && (out.start == 0 || phase.start < out.start)) out.start = phase.start;
    if (phase.stop > out.stop) out.stop = phase.stop;
  }
  return out;
}

std::vector<std::string> portable_argv(const std::vector<std::string>& argv,
                                       const std::string& rootdir, const std::string& cwd) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (i == 0) {  // the binary: where bulkhead is installed, not a project path
      out.push_back(arg);
      continue;
    }
    const auto equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      out.push_back(arg.substr(0, equals + 1) + inside(arg.substr(equals + 1), rootdir, cwd));
    } else {
      out.push_back(inside(arg, rootdir, cwd));
    }
  }
  return out;
}

RunRecorder::RunRecorder(RunRecord header, std::string runs_dir, std::string fallback_rootdir)
    : header_(std::move(header)),
      runs_dir_(std::move(runs_dir)),
      fallback_rootdir_(std::move(fallback_rootdir)) {}

void RunRecorder::failed(const std::exception& error) {
  if (!broken_) {
    std::fprintf(stderr, "bulkhead: run record not written: %s (the run goes on without it)\n",
                 error.what());
  }
  broken_ = true;
  writer_.reset();
}

void RunRecorder::open(const std::string& rootdir) {
  if (writer_ || broken_) return;
  try {
    const std::string root =
        fs::path(rootdir.empty() ? fallback_rootdir_ : rootdir).lexically_normal().string();
    header_.rootdir = root;
    const std::string cwd = header_.cwd;
    header_.argv = portable_argv(header_.argv, root, cwd);
    const fs::path relative = fs::path(cwd).lexically_normal().lexically_relative(root);
    if (!relative.empty() && *relative.begin() != "..") {
      header_.cwd = relative == "." || relative.empty() ? "." : relative.string();
    }
    header_.git_commit = git_head_commit(root);
    if (runs_dir_.empty()) runs_dir_ = runs_dir(root);
    writer_ = std::make_unique<RecordWriter>(runs_dir_, header_);
    prune_runs(runs_dir_, kKeptRuns);
  } catch (const std::exception& error) {
    failed(error);
  }
}

void RunRecorder::collected(const protocol::WorkerSettings& settings, std::size_t tests) {
  if (attempt_ != 0) return;  // a --retries sub-run: the record is open
  if (!settings.python_version.empty()) header_.python_version = settings.python_version;
  if (!settings.pytest_version.empty()) header_.pytest_version = settings.pytest_version;
  header_.collected = tests;
  open(settings.rootdir);
}

void RunRecorder::test_ended(const TestRecord& test) {
  if (!writer_) return;
  RecordedTest line = recorded_test(test);
  line.attempt = attempt_;
  line.kind = kind_;
  try {
    writer_->append(line);
  } catch (const std::exception& error) {
    failed(error);
  }
}

void RunRecorder::flush() {
  if (!writer_) return;
  try {
    writer_->flush();
  } catch (const std::exception& error) {
    failed(error);
  }
}

void RunRecorder::sub_run(int attempt, const std::string& kind) {
  attempt_ = attempt;
  kind_ = kind;
}

std::string RunRecorder::finish(int exit_code, double duration, const ResultStore& results) {
  open("");
  if (!writer_) return "";
  header_.finished = true;
  header_.exit_code = exit_code;
  header_.duration = duration;
  OutcomeCounts counts;
  std::map<std::string, std::size_t> verdicts;
  results.for_each([&](const TestRecord& test) {
    count_outcome(counts, test);
    if (!test.verdict.empty())
      ++verdicts[test.verdict == "failed" ? "retried_failed" : test.verdict];
  });
  header_.counts.clear();
  for (const auto& [name, count] : {std::pair{"tests", counts.tests},
                                    {"passed", counts.passed},
                                    {"failed", counts.failed},
                                    {"error", counts.error},
                                    {"skipped", counts.skipped},
                                    {"xfailed", counts.xfailed},
                                    {"xpassed", counts.xpassed},
                                    {"notrun", counts.notrun},
                                    {"timeout", counts.timeout},
                                    {"crash", counts.crash},
                                    {"oom", counts.oom}}) {
    if (count > 0 || std::string(name) == "tests") header_.counts[name] = count;
  }
  for (const auto& [name, count] : verdicts) header_.counts[name] += count;
  try {
    writer_->update(header_);
  } catch (const std::exception& error) {
    failed(error);
    return "";
  }
  return writer_->dir();
}

}  // namespace bulkhead::record

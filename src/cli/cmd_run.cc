// `bulkhead run`: options, interpreter, profile and sandbox; the header; the supervisor; the
// reports. Exit codes are pytest's (0 ok, 1 failures, 2 interrupted, 3 internal error or
// collection mismatch, 4 usage, 5 no tests).
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/file_util.h"
#include "sandbox/profile.h"
#include "sandbox/sandbox.h"
#include "src/cli/commands.h"
#include "src/cli/option_values.h"
#include "src/cli/paths.h"
#include "src/cli/project_root.h"
#include "src/cli/record_location.h"
#include "src/cli/run_options.h"
#include "src/cli/run_recording.h"
#include "src/cli/version.h"
#include "src/host/host_command.h"
#include "src/host/pytest_cache.h"
#include "src/host/write_through.h"
#include "src/python/interpreter.h"
#include "src/report/json.h"
#include "src/report/junit.h"
#include "src/report/terminal.h"
#include "src/report/views/views.h"
#include "src/retry/retry_run.h"
#include "src/run/progress.h"
#include "src/run/supervisor.h"
#include "src/services/services.h"
#include "src/shard/bazel.h"
#include "src/shard/durations.h"
#include "src/shard/record_durations.h"
#include "src/shard/run_plan.h"

extern char** environ;

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

// CPUs this process may use: sched affinity, capped by the cgroup CPU quota (v2 cpu.max or
// v1 cpu.cfs_quota_us) of its own cgroup and every ancestor.
int auto_worker_count() {
  cpu_set_t set;
  int cpus = 1;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  double quota_cpus = 0;
  auto consider = [&quota_cpus](double quota, double period) {
    if (quota > 0 && period > 0 && (quota_cpus == 0 || quota / period < quota_cpus)) {
      quota_cpus = quota / period;
    }
  };
  std::ifstream cgroups("/proc/self/cgroup");
  std::string entry;
  while (std::getline(cgroups, entry)) {
    // "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1)
    const auto first = entry.find(':');
    const auto second = entry.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = entry.substr(first + 1, second - first - 1);
    fs::path path = entry.substr(second + 1);
    std::string base;
    if (controllers.empty()) {
      base = "/sys/fs/cgroup";
    } else if (("," + controllers + ",").find(",cpu,") != std::string::npos) {
      base = fs::exists("/sys/fs/cgroup/cpu,cpuacct") ? "/sys/fs/cgroup/cpu,cpuacct"
                                                      : "/sys/fs/cgroup/cpu";
    } else {
      continue;
    }
    for (fs::path dir = path;; dir = dir.parent_path()) {
      const std::string at = base + dir.string();
      if (controllers.empty()) {
        std::istringstream max(read_first_line(at + "/cpu.max"));
        std::string quota;
        double period = 0;
        if (max >> quota >> period && quota != "max") consider(std::atof(quota.c_str()), period);
      } else {
        const std::string quota = read_first_line(at + "/cpu.cfs_quota_us");
        const std::string period = read_first_line(at + "/cpu.cfs_period_us");
        if (!quota.empty() && !period.empty())
          consider(std::atof(quota.c_str()), std::atof(period.c_str()));
      }
      if (dir == dir.root_path() || dir.empty()) break;
    }
  }
  if (quota_cpus > 0) cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(quota_cpus))));
  return cpus;
}

std::string make_run_id() {
  std::random_device random;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%08x%04x", random(), random() & 0xffff);
  return buffer;
}

// Worker logs and stack dumps live in ${TMPDIR:-/tmp}/bulkhead-<uid>/<run_id>. The directory
// goes away when the run ends (however it ends, short of SIGKILL) unless the logs are kept
// (--keep-logs, BULKHEAD_KEEP_LOGS=1); so does the bulkhead-<uid> parent when this run created
// it and nothing else is in it.
class RunDir {
 public:
  // `base` replaces ${TMPDIR:-/tmp} when set (Bazel's TEST_TMPDIR).
  RunDir(const std::string& run_id, bool keep, const std::string& base = {}) : keep_(keep) {
    const char* tmp = std::getenv("TMPDIR");
    const std::string top = !base.empty() ? base : tmp && *tmp ? tmp : "/tmp";
    parent_ = fs::path(top) / ("bulkhead-" + std::to_string(getuid()));
    path_ = parent_ / run_id;
    std::error_code error;
    created_parent_ = !fs::exists(parent_, error);
    // Another run may remove an empty parent between our mkdirs: try again then.
    for (int attempt = 0; attempt < 3; ++attempt) {
      error.clear();
      fs::create_directories(path_, error);
      if (!error) break;
    }
    if (error) throw SysError("mkdir " + path_.string(), error.value());
    if (created_parent_) {
      fs::permissions(parent_, fs::perms::owner_all, fs::perm_options::replace, error);
    }
  }
  ~RunDir() {
    if (keep_) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
    if (created_parent_) fs::remove(parent_, ignored);  // fails (harmlessly) unless empty
  }
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  std::string path() const { return path_.string(); }
  bool kept() const { return keep_; }

 private:
  fs::path parent_;
  fs::path path_;
  bool keep_;
  bool created_parent_ = false;
};

bool keep_logs_from_env() {
  const char* value = std::getenv("BULKHEAD_KEEP_LOGS");
  return value && *value && std::string(value) != "0";
}

std::vector<std::string> worker_environment(const sandbox::Profile& profile,
                                            const std::string& plugin_dir) {
  std::vector<std::string> env;
  std::string pythonpath = plugin_dir;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string key = text.substr(0, text.find('='));
    if (std::find(profile.env_unset.begin(), profile.env_unset.end(), key) !=
        profile.env_unset.end()) {
      continue;
    }
    if (key == "PYTHONPATH") {
      const std::string value = text.substr(key.size() + 1);
      if (!value.empty()) pythonpath += ":" + value;
      continue;
    }
    env.push_back(text);
  }
  env.push_back("PYTHONPATH=" + pythonpath);
  return env;
}

void print_header(Terminal& terminal, const PythonInfo& python, const sandbox::Sandbox& sandbox,
                  int workers, const RunOptions& options, const RunDir& run_dir,
                  const WriteThrough& write_through, const services::Services& services) {
  if (terminal.quiet()) return;
  terminal.separator('=', "test session starts", nullptr, true);
  terminal.line("platform linux -- Python " + python.version + ", pytest-" + python.pytest_version +
                " -- " + python.executable);
  const sandbox::Isolation& isolation = sandbox.isolation();
  std::string line = std::string("bulkhead ") + kBulkheadVersion + " -- " +
                     std::to_string(workers) + (workers == 1 ? " worker" : " workers") +
                     ", profile " + sandbox.profile().name + ", cgroups " + isolation.cgroup_mode +
                     ", dist " + dist_mode_name(options.dist);
  if (isolation.user_namespace) line += ", rootless (user namespace)";
  terminal.line(line);
  if (!options.config_file.empty()) terminal.line("configfile: " + options.config_file);
  if (run_dir.kept()) terminal.line("worker logs: " + run_dir.path() + " (kept)");
  if (!options.write_through.empty()) {
    std::string paths;
    for (const std::string& path : options.write_through)
      paths += (paths.empty() ? "" : ", ") + path;
    terminal.line("write-through: " + paths);
  }
  for (const std::string& problem : write_through.problems()) terminal.line(problem, "yellow");
  for (const std::string& line : services.header_lines()) terminal.line(line);
  for (const std::string& missing : isolation.missing) {
    terminal.line("isolation missing: " + missing, "yellow");
  }
}

RunInfo run_info(const RunResult& result, const RunOptions& options, const PythonInfo& python,
                 const sandbox::Sandbox& sandbox, int workers, const std::string& run_id,
                 double start_time, double duration) {
  RunInfo info;
  info.run_id = run_id;
  info.profile = sandbox.profile().name;
  info.cgroup_mode = sandbox.isolation().cgroup_mode;
  info.workers = workers;
  info.python = python.executable;
  info.python_version = python.version;
  info.pytest_version =
      result.pytest_version.empty() ? python.pytest_version : result.pytest_version;
  info.rootdir = result.worker_settings.rootdir;
  info.pytest_args = options.pytest_args;
  info.start_time = start_time;
  info.duration = duration;
  info.exit_code = result.exit_code;
  info.isolation_missing = sandbox.isolation().missing;
  return info;
}

// Zygote mode where it works (src/run/zygote.h): `auto` leaves a lone worker that runs all its
// tests to a spawn (one sandbox instead of two); what the sandbox cannot do is said once.
void decide_zygote(const RunOptions& options, const sandbox::Sandbox& sandbox, int workers,
                   SupervisorSettings& settings) {
  if (options.zygote == "off") return;
  if (options.zygote == "auto" && workers == 1 && !settings.isolate_units) return;
  settings.zygote_refused = sandbox.zygote_unavailable();
  settings.zygote = settings.zygote_refused.empty();
}

// The host session's command: pytest with the run's own arguments, in the user's directory,
// outside every sandbox, with the workers' environment minus what makes a process a worker.
HostLaunch host_launch(const RunOptions& options, const WorkerLaunch& worker,
                       const std::vector<std::string>& pytest_args, const std::string& run_dir) {
  HostLaunch host;
  if (options.controller == "off") {
    host.off_reason = "--controller off";
  } else if (!options.image.empty()) {
    // Its interpreter and plugins are the image's, which cannot run on the host.
    host.off_reason = "--image runs pytest only inside the image";
  } else if (!options.replay_file.empty()) {
    host.off_reason = "--replay runs without the host session";  // it reports nothing of its own
  }
  host.argv = {worker.argv[0], "-m", "pytest", "-p", "bulkhead_controller"};
  host.argv.insert(host.argv.end(), pytest_args.begin(), pytest_args.end());
  for (const std::string& entry : worker.env) {
    const std::string key = entry.substr(0, entry.find('='));
    if (key.rfind("PYTEST_XDIST_", 0) != 0 && key.rfind("BULKHEAD_", 0) != 0) {
      host.env.push_back(entry);
    }
  }
  host.env.push_back("BULKHEAD_CONTROLLER_FD=3");
  host.env.push_back("BULKHEAD_WORKER_COUNT=" + std::to_string(worker.worker_count));
  host.env.push_back("BULKHEAD_RUN_ID=" + worker.run_id);
  host.env.push_back("BULKHEAD_COLUMNS=" + std::to_string(worker.columns));
  host.cwd = worker.cwd;
  host.log_path = run_dir + "/controller.log";
  // Bounds on a host session that hangs (a conftest stuck at import, a report that never ends).
  for (auto [variable, bound] :
       {std::pair{"BULKHEAD_CONTROLLER_START_TIMEOUT", &host.start_timeout_s},
        std::pair{"BULKHEAD_CONTROLLER_FINISH_TIMEOUT", &host.finish_timeout_s}}) {
    const char* value = std::getenv(variable);
    if (value == nullptr || *value == '\0') continue;
    try {
      *bound = parse_duration(value);
    } catch (const UserError& error) {
      throw UserError(std::string(variable) + ": " + error.what());
    }
  }
  return host;
}

// Setup commands and forwards: the command line, else pyproject.toml, else the profile;
// the profile's forwards come on top of the others.
services::ServicesConfig services_config(const RunOptions& options,
                                         const sandbox::Profile& profile) {
  services::ServicesConfig config;
  const std::string profile_origin = profile.source_path + ": $.network.forward";
  for (const std::string& spec : profile.forwards)
    config.forwards.push_back({spec, profile_origin});
  for (const std::string& spec : options.forwards) {
    config.forwards.push_back({spec, options.forwards_origin});
  }
  const sandbox::ServiceCommands& commands = profile.services;
  config.setup = options.setup.value_or(commands.setup);
  config.teardown = options.teardown.value_or(commands.teardown);
  config.worker_setup = options.worker_setup.value_or(commands.worker_setup);
  config.worker_teardown = options.worker_teardown.value_or(commands.worker_teardown);
  config.timeout_s = options.setup_timeout_s.value_or(commands.timeout_s.value_or(300));
  return config;
}

int run(int argc, char** argv) {
  const std::string cwd = fs::current_path().string();
  RunOptions options = parse_run_options(argc, argv, cwd);
  if (options.show_help) {
    std::fputs(options.help_text.c_str(), stdout);
    return 0;
  }
  // The interpreter probes (each an interpreter start, ~50-100 ms) run while this thread reads
  // the durations and records and loads the profile. They end before Sandbox::create: on cgroup
  // v2 it may enable controllers in our own cgroup, which the kernel refuses (EBUSY) while a
  // probe interpreter is still in it. --cache-show only prints pytest's cache, on the host even
  // with --image.
  const bool cache_show = inspect_pytest_args(options.pytest_args).cache_show;
  std::future<PythonInfo> python_probe = std::async(std::launch::async, [&options, cache_show] {
    if (cache_show) return find_python(options.image.empty() ? options.python : "");
    return options.image.empty() ? find_python(options.python)
                                 : find_python_in_image(options.image, options.python);
  });
  const ShardSpec shard =
      options.shard.empty() ? ShardSpec{} : parse_shard(options.shard, process_environment());
  std::optional<BazelTestRun> bazel;
  if (shard.bazel) bazel.emplace(*shard.bazel);
  // Shards split by `.test_durations` alone (every machine has it); the work is also ordered by
  // what this machine's recent runs measured.
  // The planner holds the only copies, and drops them once the plan is made.
  RunPlanner planner = [&] {
    DurationSource durations = load_test_durations(options.durations_path);
    DurationSource order =
        options.record ? with_recorded_durations(
                             durations, recorded_durations(find_runs_dir(options.record_dir, cwd)))
                       : durations;
    return RunPlanner(shard, options.dist, std::move(durations), std::move(order));
  }();
  const bool replay = !options.replay.empty();
  if (replay) planner.replay(options.replay, options.replay_file);
  if (cache_show) {
    // Nothing to run in a sandbox.
    return run_pytest_on_host(python_probe.get().executable, options.pytest_args);
  }
  sandbox::Profile profile = sandbox::load_profile(options.profile, {profiles_dir()});
  sandbox::Limits& limits = profile.limits;
  if (options.memory_bytes) limits.memory_bytes = options.memory_bytes;
  if (options.cpus) limits.cpus = options.cpus;
  if (options.pids) limits.pids = options.pids;
  if (options.nofile) limits.nofile = options.nofile;

  const std::string run_id = make_run_id();
  const double start_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto started = std::chrono::steady_clock::now();

  const std::string project_dir = project_root(cwd);
  const WriteThrough write_through(project_dir, profile.mounts.write_through,
                                   options.write_through);
  for (const auto& bind : write_through.binds()) profile.mounts.binds.push_back(bind);

  sandbox::SandboxOptions sandbox_options;
  sandbox_options.profile = profile;
  sandbox_options.run_id = run_id;
  sandbox_options.require_isolation = options.require_isolation || profile.require_isolation;
  sandbox_options.image_root = options.image;
  const PythonInfo python = python_probe.get();
  auto sandbox = sandbox::Sandbox::create(std::move(sandbox_options));

  // A replay runs one sandbox, worker gwN, telling it the worker count asked for (at least N+1).
  const int asked_workers = options.workers.value_or(auto_worker_count());
  const int workers = replay ? 1 : asked_workers;
  const PytestArgFacts facts = inspect_pytest_args(options.pytest_args);
  TerminalOptions terminal_options;
  terminal_options.color = decide_color(options.color, STDOUT_FILENO);
  terminal_options.width = terminal_width(STDOUT_FILENO);
  terminal_options.verbosity = facts.verbosity;
  const ProgressMode progress = resolve_progress(options.progress, STDOUT_FILENO);
  terminal_options.percentages = progress != ProgressMode::Off;
  terminal_options.top_memory = options.top_memory;
  Terminal terminal(stdout, terminal_options);

  WorkerLaunch launch;
  launch.argv = {python.executable, "-m", "pytest", "-p", "bulkhead_worker"};
  // A user's `addopts = -n auto` must not start xdist workers inside ours.
  if (!python.xdist_version.empty()) launch.argv.insert(launch.argv.end(), {"-n", "0"});
  launch.argv.push_back(terminal_options.color ? "--color=yes" : "--color=no");
  std::string randomly_seed;
  if (!python.randomly_version.empty() && !facts.randomly_disabled && !facts.has_randomly_seed) {
    // Every worker must shuffle the same way, or their collections differ.
    randomly_seed = std::to_string(std::random_device{}() % 4294967295u);
    launch.argv.push_back("--randomly-seed=" + randomly_seed);
  }
  launch.argv.insert(launch.argv.end(), options.pytest_args.begin(), options.pytest_args.end());
  launch.env = worker_environment(profile, worker_plugin_dir());
  if (options.controller == "on") launch.env.push_back("BULKHEAD_CONTROLLER=on");
  launch.env_templates = profile.env;
  launch.cwd = cwd;
  launch.project_dir = project_dir;
  // What the worker imports must stay visible even where a private tmpfs covers it (a venv
  // or a bulkhead build under /tmp).
  // On an image, the interpreter is the image's own: only the plugin is brought in.
  if (options.image.empty()) {
    launch.visible_paths = python.path_dirs;
    launch.visible_paths.push_back(python.prefix);
  }
  launch.visible_paths.push_back(worker_plugin_dir());
  launch.run_id = run_id;
  const RunDir run_dir(run_id, options.keep_logs || keep_logs_from_env(),
                       bazel ? bazel->tmpdir() : std::string());
  launch.run_dir = run_dir.path();
  launch.worker_count = workers;
  if (replay) {
    launch.first_worker = options.replay_worker;
    launch.announced_workers = std::max(asked_workers, options.replay_worker + 1);
  }
  launch.output_cap_bytes = options.output_cap_bytes;
  launch.leaks = options.leaks;
  launch.columns = terminal_options.width;
  launch.zygote_library = zygote_library_path();

  services::Services services(services_config(options, profile), run_dir.path() + "/services");
  services.start(launch);

  print_header(terminal, python, *sandbox, workers, options, run_dir, write_through, services);
  // A shard says which it is after the collection line, with its share; `auto` without a CI
  // says now that it runs everything.
  if (!options.shard.empty() && !shard.sharded() && !terminal.quiet()) {
    terminal.line(shard.describe());
  }

  SupervisorSettings settings;
  settings.workers = workers;
  settings.dist = options.dist;
  settings.test_timeout_s = options.timeout_s;
  settings.profile_timeout_s = limits.test_timeout_s;
  settings.session_timeout_s = options.session_timeout_s;
  settings.max_worker_restart = options.max_worker_restart.value_or(4 * workers);
  settings.live_output = facts.capture_disabled;
  settings.live_progress = progress == ProgressMode::Line;
  settings.terminal_keys = progress == ProgressMode::Line;
  settings.logs_kept = run_dir.kept();
  settings.plan_work = [&planner](const std::vector<ScheduledItem>& items) {
    return planner.plan(items);
  };
  settings.isolate_units = options.isolate != "worker";
  if (replay) settings.isolate_units = false;  // one sandbox runs the sequence, as recorded
  decide_zygote(options, *sandbox, workers, settings);
  // auto: always with --isolate, where every unit needs a new sandbox; else from the first
  // worker death on (docs/architecture.md, Spares).
  using Spares = SupervisorSettings::Spares;
  settings.spares = !settings.zygote || options.spares == "off"        ? Spares::Off
                    : options.spares == "on" || settings.isolate_units ? Spares::Always
                                                                       : Spares::AfterADeath;
  // The host session takes the workers' pytest arguments after their `-p bulkhead_worker`.
  settings.host =
      host_launch(options, launch, {launch.argv.begin() + 5, launch.argv.end()}, run_dir.path());
  settings.hooks = &services;
  const std::unique_ptr<record::RunRecorder> recorder =
      make_run_recorder(options, python, profile, launch, settings,
                        {run_id, start_time, cwd, project_dir, randomly_seed});
  settings.observer = recorder.get();
  settings.defer_closing_line = options.retries > 0;

  RunResult result;
  {
    CiSection section(stdout, "bulkhead_tests", "bulkhead: running the tests");
    Supervisor supervisor(*sandbox, launch, settings, terminal);
    result = supervisor.run();
  }
  // A replay reports what the sequence did, once: no retries.
  result.exit_code =
      run_retries(*sandbox, launch, settings, terminal_options,
                  {replay ? 0 : options.retries, options.flaky_result == "pass"}, terminal, result);
  if (result.pytest_cache && !result.host_session_finished) {
    // No host session wrote pytest's cache: write what this run's pytest would have.
    for (const std::string& problem :
         write_pytest_cache(*result.pytest_cache, result.records, result.collected)) {
      terminal.line("bulkhead: " + problem, "yellow");
    }
  }
  for (const std::string& failure : services.finish()) {
    std::fprintf(stderr, "bulkhead run: %s\n", failure.c_str());
    if (result.exit_code == 0) result.exit_code = 1;  // as pytest fails a run on a teardown error
  }
  const double duration =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (recorder) recorder->finish(result.exit_code, duration, result.records);
  RunInfo info = run_info(result, options, python, *sandbox, workers, run_id, start_time, duration);
  info.shard = planner.assignment();
  try {
    // As pytest's --junitxml: a report's directory is made when missing.
    for (const std::string* path :
         {&options.junitxml, &options.json_path, &options.html_path, &options.trace_path}) {
      const fs::path parent = fs::path(*path).parent_path();
      std::error_code ignored;
      if (!path->empty() && !parent.empty()) fs::create_directories(parent, ignored);
    }
    if (!options.junitxml.empty()) {
      write_junit_xml(options.junitxml, result.records, info);
      if (!terminal.quiet())
        terminal.line("generated xml file: " + fs::absolute(options.junitxml).string());
    }
    if (bazel && !bazel->xml_output_file().empty()) {
      write_junit_xml(bazel->xml_output_file(), result.records, info);
    }
    if (!options.json_path.empty()) write_json_report(options.json_path, result.records, info);
    write_report_views(
        {options.html_path, options.trace_path},
        [&](const TextOut& out) { stream_json_text(result.records, info, out); }, terminal);
    if (options.store_durations && !replay) {  // a replay's are a partial view
      store_test_durations(options.durations_path, measured_durations(result.records));
      if (!terminal.quiet()) terminal.line("stored test durations in " + options.durations_path);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bulkhead run: writing reports: %s\n", error.what());
    return 3;
  }
  if (run_dir.kept() && !terminal.quiet()) terminal.line("worker logs kept in " + run_dir.path());
  return result.exit_code;
}

}  // namespace

int cmd_run(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const services::SetupFailed& error) {
    std::fprintf(stderr, "bulkhead run: %s\n", error.what());
    return error.exit_code();
  } catch (const UserError& error) {
    std::fprintf(stderr, "bulkhead run: %s\n", error.what());
    return 4;
  } catch (const sandbox::ProfileError& error) {
    std::fprintf(stderr, "bulkhead run: profile: %s\n", error.what());
    return 4;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bulkhead run: internal error: %s\n", error.what());
    return 3;
  }
}

}  // namespace bulkhead

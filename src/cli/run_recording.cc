// The run record's header (run_recording.h).
#include "src/cli/run_recording.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "src/cli/version.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

// The exact command line, argv[0] included (cmd_run sees only the arguments after `run`).
std::vector<std::string> own_command_line() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(file)), {});
  std::vector<std::string> argv;
  std::string::size_type from = 0;
  while (from < text.size()) {
    const auto end = text.find('\0', from);
    argv.push_back(text.substr(from, end == std::string::npos ? std::string::npos : end - from));
    if (end == std::string::npos) break;
    from = end + 1;
  }
  return argv;
}

// The value of `--name=V` or `--name V` among pytest's arguments, "" when absent.
std::string pytest_option(const std::vector<std::string>& args, const std::string& name) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind(name + "=", 0) == 0) return args[i].substr(name.size() + 1);
    if (args[i] == name && i + 1 < args.size()) return args[i + 1];
  }
  return "";
}

using Env = std::map<std::string, std::string>;

Env as_map(const std::vector<std::string>& entries) {
  Env env;
  for (const std::string& entry : entries) {
    const auto equals = entry.find('=');
    const std::string key = entry.substr(0, equals);
    env[key] = record::recorded_value(
        key, equals == std::string::npos ? std::string() : entry.substr(equals + 1));
  }
  return env;
}

}  // namespace

std::unique_ptr<record::RunRecorder> make_run_recorder(
    const RunOptions& options, const PythonInfo& python, const sandbox::Profile& profile,
    const WorkerLaunch& launch, const SupervisorSettings& settings, const RecordingFacts& facts) {
  if (!options.record) return nullptr;
  record::RunRecord header;
  header.run_id = facts.run_id;
  header.start_time = facts.start_time;
  header.bulkhead_version = kBulkheadVersion;
  header.python = python.executable;
  header.python_version = python.version;
  header.pytest_version = python.pytest_version;
  header.argv = own_command_line();
  header.cwd = facts.cwd;
  header.pytest_args = options.pytest_args;
  header.profile = profile.name;
  header.profile_path = profile.source_path;
  header.limits = {profile.limits.memory_bytes, profile.limits.cpus, profile.limits.pids,
                   profile.limits.nofile, profile.limits.test_timeout_s};
  header.settings.workers = settings.workers;
  header.settings.dist = dist_mode_name(settings.dist);
  header.settings.mode = settings.zygote ? "zygote" : "spawn";
  header.settings.isolate = options.isolate;
  header.settings.timeout_s = options.timeout_s;
  header.settings.retries = options.retries;

  // What every worker gets in common, and what differs per worker.
  std::vector<Env> envs;
  for (int slot = 0; slot < settings.workers; ++slot) {
    envs.push_back(as_map(worker_environment(launch, slot)));
  }
  if (!envs.empty()) {
    for (const auto& [key, value] : envs.front()) {
      bool shared = true;
      for (const Env& env : envs) {
        auto found = env.find(key);
        shared = shared && found != env.end() && found->second == value;
      }
      if (shared) header.env[key] = value;
    }
    for (std::size_t slot = 0; slot < envs.size(); ++slot) {
      Env& own = header.worker_env["gw" + std::to_string(slot)];
      for (const auto& [key, value] : envs[slot]) {
        if (header.env.count(key) == 0) own[key] = value;
      }
    }
  }
  if (auto seed = header.env.find("PYTHONHASHSEED"); seed != header.env.end()) {
    header.seeds["PYTHONHASHSEED"] = seed->second;
  }
  const std::string randomly = !facts.randomly_seed.empty()
                                   ? facts.randomly_seed
                                   : pytest_option(options.pytest_args, "--randomly-seed");
  if (!randomly.empty()) header.seeds["randomly"] = randomly;
  if (const std::string order = pytest_option(options.pytest_args, "--random-order-seed");
      !order.empty()) {
    header.seeds["random-order"] = order;
  }

  std::string runs_dir;
  if (!options.record_dir.empty()) {
    runs_dir = fs::absolute(fs::path(facts.cwd) / options.record_dir).lexically_normal().string();
  }
  return std::make_unique<record::RunRecorder>(std::move(header), runs_dir, facts.project_dir);
}

}  // namespace bulkhead

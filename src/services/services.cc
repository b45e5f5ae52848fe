// Setup, teardown and forwards of a run (see services.h).
#include "src/services/services.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>

#include "sandbox/error.h"
#include "sandbox/profile.h"

namespace bulkhead::services {
namespace {

// Variables of bulkhead's own that a setup command has no use for (the worker's fds).
bool for_worker_only(const std::string& entry) {
  for (const char* key : {"BULKHEAD_CHANNEL_FD=", "BULKHEAD_STACKS_FD=", "BULKHEAD_LOG_FD=",
                          "BULKHEAD_OUTPUT_CAP=", "BULKHEAD_COLUMNS="}) {
    if (entry.rfind(key, 0) == 0) return true;
  }
  return false;
}

// {name} placeholders a command may use; ${VAR} is the shell's and left alone.
void check_placeholders(const std::string& command, const std::vector<std::string>& allowed,
                        const std::string& origin) {
  for (std::size_t i = 0; i < command.size(); ++i) {
    if (command[i] != '{') continue;
    if (i + 1 < command.size() && command[i + 1] == '{') {
      ++i;
      continue;
    }
    const auto close = command.find('}', i + 1);
    if (close == std::string::npos) return;
    const std::string name = command.substr(i + 1, close - i - 1);
    const bool shell = i > 0 && command[i - 1] == '$';
    const bool placeholder = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    });
    if (!shell && placeholder && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "{" : ", {") + a + "}";
      throw UserError(origin + ": unknown placeholder {" + name + "} in `" + command +
                      "`; expected " + list + " (write {{ and }} for literal braces)");
    }
    i = close;
  }
}

std::string seconds_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
  return buffer;
}

void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  const std::string prefix = key + "=";
  std::erase_if(env, [&](const std::string& entry) { return entry.rfind(prefix, 0) == 0; });
  env.push_back(prefix + value);
}

}  // namespace

Services::Services(ServicesConfig config, std::string log_dir)
    : config_(std::move(config)), log_dir_(std::move(log_dir)) {
  for (const ForwardRequest& request : config_.forwards) {
    if (request.spec == "auto") continue;
    try {
      parse_forward(request.spec, request.origin);
    } catch (const UserError& error) {
      throw UserError(request.origin + ": " + error.what());
    }
  }
  const std::vector<std::string> run_vars = {"worker_count", "run_id"};
  const std::vector<std::string> worker_vars = {"worker", "worker_index", "worker_count", "run_id"};
  check_placeholders(config_.setup, run_vars, "--setup (setup)");
  check_placeholders(config_.teardown, run_vars, "--teardown (teardown)");
  check_placeholders(config_.worker_setup, worker_vars, "--worker-setup (worker_setup)");
  check_placeholders(config_.worker_teardown, worker_vars, "--worker-teardown (worker_teardown)");
  if (!(config_.timeout_s > 0)) throw UserError("setup timeout: expected a positive duration");

  const bool commands = !config_.setup.empty() || !config_.teardown.empty() ||
                        !config_.worker_setup.empty() || !config_.worker_teardown.empty();
  if (commands) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (::sigprocmask(SIG_BLOCK, &signals, &saved_mask_) != 0) throw_errno("sigprocmask");
    holds_signals_ = true;
    signal_fd_.reset(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) throw_errno("signalfd(services)");
    ::mkdir(log_dir_.c_str(), 0700);
  }
}

Services::~Services() {
  try {
    finish();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bulkhead: teardown: %s\n", error.what());
  }
  if (holds_signals_) {
    // A signal that arrived during the teardown was answered there: do not let it kill us now.
    signalfd_siginfo info{};
    while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    }
    signal_fd_.reset();
    ::sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
  }
}

ShellCommand Services::command_for(const std::string& label, const std::string& text,
                                   const std::vector<std::string>& env, const std::string& file,
                                   const std::map<std::string, std::string>& vars) const {
  ShellCommand command;
  command.label = label;
  command.command = sandbox::expand_template(text, vars);
  for (const std::string& entry : env) {
    if (!for_worker_only(entry)) command.env.push_back(entry);
  }
  command.log_base = log_dir_ + "/" + file;
  return command;
}

void Services::start(WorkerLaunch& launch) {
  const std::map<std::string, std::string> run_vars = {
      {"worker_count", std::to_string(launch.worker_count)}, {"run_id", launch.run_id}};
  auto fail = [&](const ShellCommand& command, const CommandResult& result) {
    const bool interrupted = result.interrupted;
    std::vector<std::string> teardown_failures = finish();
    std::string text = describe_failure(command, result);
    text += "\nno test ran; the teardown ran for what was set up";
    for (const auto& failure : teardown_failures) text += "\nand " + failure;
    throw SetupFailed(text, interrupted ? 2 : kExitSetupFailed);
  };

  // The run's setup, with the user's environment.
  std::vector<std::string> run_env = launch.env;
  set_env(run_env, "BULKHEAD_RUN_ID", launch.run_id);
  set_env(run_env, "BULKHEAD_WORKER_COUNT", std::to_string(launch.worker_count));
  if (!config_.teardown.empty()) {
    run_teardown_ = command_for("teardown", config_.teardown, run_env, "teardown", run_vars);
  }
  if (!config_.setup.empty()) {
    const ShellCommand setup = command_for("setup", config_.setup, run_env, "setup", run_vars);
    const CommandResult result =
        run_shell_commands({setup}, config_.timeout_s, signal_fd_.get(), OnSignal::Stop)[0];
    if (run_teardown_) {
      // The teardown sees what the setup wrote (as far as it got), as the workers do.
      for (const auto& [key, value] : result.env_out) set_env(run_teardown_->env, key, value);
    }
    if (!result.ok) fail(setup, result);
    for (const auto& [key, value] : result.env_out) set_env(launch.env, key, value);
    header_.push_back("setup: `" + setup.command + "` (" + seconds_text(result.seconds) + ")");
  }

  // Every worker slot's setup, at once.
  std::vector<ShellCommand> setups;
  for (int slot = 0; slot < launch.worker_count; ++slot) {
    const std::string name = worker_name(launch, slot);
    const std::map<std::string, std::string> vars = {
        {"worker", name},
        {"worker_index", std::to_string(launch.first_worker + slot)},
        {"worker_count", std::to_string(announced_worker_count(launch))},
        {"run_id", launch.run_id}};
    const std::vector<std::string> env = worker_environment(launch, slot);
    if (!config_.worker_setup.empty()) {
      setups.push_back(command_for("worker setup (" + name + ")", config_.worker_setup, env,
                                   "setup-" + name, vars));
    }
    if (!config_.worker_teardown.empty()) {
      worker_teardowns_.push_back(command_for("worker teardown (" + name + ")",
                                              config_.worker_teardown, env, "teardown-" + name,
                                              vars));
    }
  }
  if (!setups.empty()) {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<CommandResult> results =
        run_shell_commands(setups, config_.timeout_s, signal_fd_.get(), OnSignal::Stop);
    for (std::size_t slot = 0; slot < results.size(); ++slot) {
      for (const auto& [key, value] : results[slot].env_out) {
        launch.slot_env[static_cast<int>(slot)][key] = value;
        if (slot < worker_teardowns_.size()) set_env(worker_teardowns_[slot].env, key, value);
      }
    }
    for (std::size_t slot = 0; slot < results.size(); ++slot) {
      if (!results[slot].ok) fail(setups[slot], results[slot]);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    header_.push_back("worker setup: `" + config_.worker_setup + "` x" +
                      std::to_string(setups.size()) + " (" + seconds_text(seconds) + ")");
  }

  // Forwards: `auto` reads every worker's final environment.
  std::vector<std::vector<std::string>> envs;
  for (int slot = 0; slot < launch.worker_count; ++slot) {
    envs.push_back(worker_environment(launch, slot));
  }
  forwarding_ = std::make_unique<Forwarding>(config_.forwards, envs);
  launch.listeners = forwarding_->listeners();
  for (const std::string& line : forwarding_->describe()) header_.push_back(line);
  forwarding_->start();
}

void Services::worker_started(int slot, std::vector<UniqueFd> listeners) {
  if (forwarding_) forwarding_->attach(slot, std::move(listeners));
}

void Services::worker_ended(int slot) {
  if (forwarding_) forwarding_->detach(slot);
}

std::vector<std::string> Services::finish() {
  if (finished_) return {};
  finished_ = true;
  if (forwarding_) forwarding_->stop();
  std::vector<std::string> failures;
  auto run = [&](const std::vector<ShellCommand>& commands) {
    if (commands.empty()) return;
    const std::vector<CommandResult> results =
        run_shell_commands(commands, config_.timeout_s, signal_fd_.get(), OnSignal::FinishFirst);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok) failures.push_back(describe_failure(commands[i], results[i]));
    }
  };
  run(worker_teardowns_);
  worker_teardowns_.clear();
  if (run_teardown_) run({*run_teardown_});
  run_teardown_.reset();
  return failures;
}

}  // namespace bulkhead::services

// A run's services: the once-per-run setup and teardown, each worker slot's setup and teardown,
// and the forwards (with their relay). Setups run before the first sandbox starts (a worker's
// replacement keeps its slot's resources); teardowns run for whatever was set up, however the
// run ends (crash, timeout, -x, SIGINT/SIGTERM, --session-timeout, an exception): the
// destructor runs what `finish()` did not. SIGINT/SIGTERM are held in a signalfd from the
// constructor on, so an interrupt between setup and teardown cannot skip the teardown.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sandbox/fd.h"
#include "src/run/worker_hooks.h"
#include "src/run/worker_process.h"
#include "src/services/forwarding.h"
#include "src/services/shell_commands.h"

namespace bulkhead::services {

// Exit status of `bulkhead run` when a setup command fails (documented in docs/cli.md).
constexpr int kExitSetupFailed = 4;

struct ServicesConfig {
  std::vector<ForwardRequest> forwards;
  std::string setup, teardown;                // once per run ("" = none)
  std::string worker_setup, worker_teardown;  // once per worker slot
  double timeout_s = 300;                     // each command's bound
};

// A setup failed (or was interrupted); what was set up has been torn down.
class SetupFailed : public std::runtime_error {
 public:
  SetupFailed(const std::string& what, int exit_code)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

class Services : public WorkerHooks {
 public:
  // Checks the forward specs and command templates (throws UserError) and holds SIGINT/SIGTERM
  // when there are commands. `log_dir`: where the commands' output goes.
  Services(ServicesConfig config, std::string log_dir);
  ~Services() override;
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  // Runs the setup, then every worker's setup at once, then puts the forwards together (`auto`
  // sees what the setups wrote) and starts the relay. Adds to `launch` the setups' variables
  // and the listeners. Throws SetupFailed (after the teardowns) or UserError.
  void start(WorkerLaunch& launch);

  // For the header: forwards, notes, setup times.
  const std::vector<std::string>& header_lines() const { return header_; }
  const Forwarding* forwarding() const { return forwarding_.get(); }

  void worker_started(int slot, std::vector<UniqueFd> listeners) override;
  void worker_ended(int slot) override;

  // Stops the relay, then runs the teardowns owed: every worker's at once, then the run's.
  // Returns one message per failed teardown. Idempotent.
  std::vector<std::string> finish();

 private:
  ShellCommand command_for(const std::string& label, const std::string& text,
                           const std::vector<std::string>& env, const std::string& file,
                           const std::map<std::string, std::string>& vars) const;

  ServicesConfig config_;
  std::string log_dir_;
  bool holds_signals_ = false;
  sigset_t saved_mask_{};
  UniqueFd signal_fd_;
  std::unique_ptr<Forwarding> forwarding_;
  std::vector<std::string> header_;
  // Teardowns owed, built when their setup started (with the env the setup had).
  std::optional<ShellCommand> run_teardown_;
  std::vector<ShellCommand> worker_teardowns_;
  bool finished_ = false;
};

}  // namespace bulkhead::services

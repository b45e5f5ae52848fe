// Supervisor::Loop, the run's event loop (see supervisor.h), declared for the files that
// define it by concern: supervisor.cc (the loop, worker start, channel events, the
// collection, the progress line and stacks on demand), supervisor_handout.cc (refill, stealing),
// supervisor_faults.cc (stops, deadlines, worker ends), supervisor_summary.cc (the end of the run).
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sandbox/fd.h"
#include "src/report/result_store.h"
#include "src/run/progress.h"
#include "src/run/stack_request.h"
#include "src/run/supervisor.h"
#include "src/run/supervisor_slot.h"
#include "src/run/zygote.h"

namespace bulkhead {

class Supervisor::Loop {
 public:
  struct LiveTest {  // a test while it runs (live_)
    TestRecord record;
    std::vector<protocol::PhaseDisplay> displays;
  };

  // supervisor.cc
  Loop(sandbox::Sandbox& sandbox, WorkerLaunch launch, SupervisorSettings settings,
       Terminal& terminal);
  ~Loop();
  RunResult run();
  void watch(int fd, uint32_t events, uint64_t data);
  void rewatch(int fd, uint32_t events, uint64_t data);
  void unwatch(int fd);
  int live_workers() const;
  void send(int index, const std::string& line);
  bool start_zygote();
  std::unique_ptr<sandbox::Child> fork_worker(const sandbox::SpawnSpec& spec);
  void zygote_fallback(const std::string& reason);
  void start_worker(int index);
  void dispatch(const epoll_event& event);
  void read_channel(int index, bool until_empty = false);
  void protocol_failure(int index, const std::string& what);
  void read_output(int index, int stream);
  void handle_event(int index, protocol::Event event);
  void on(int index, protocol::CollectedEvent& event);
  WorkPlan plan_work();
  void adopt_collection(protocol::CollectedEvent event);
  bool same_collection(int index, const protocol::CollectedEvent& event);
  std::string reference_worker_name() const;
  void on(int index, protocol::StartEvent& event);
  void set_limit(Slot& slot, std::optional<double> limit);
  void on(int index, protocol::TimeoutEvent& event);
  void on(int index, protocol::ReportEvent& event);
  void note_pids_limit(Slot& slot, PhaseReport& phase, protocol::PhaseDisplay& display);
  void on(int index, protocol::FinishedEvent& event);
  void on(int, protocol::WarningEvent& event);
  void on(int index, protocol::InternalErrorEvent& event);
  void on(int index, protocol::NeedControllerEvent& event);
  void on(int, protocol::WorkerOutputEvent&);
  void on(int index, protocol::DoneEvent&);
  void stop_handing_out(const std::string& reason);
  std::vector<std::pair<int, RunningTest>> running_tests(Clock::time_point now) const;
  void refresh_progress();
  void flush_output(bool now_anyway);
  std::optional<Clock::time_point> output_due() const;
  void on_user(supervisor_detail::Source source);
  Slot* asked_slot(const StackTarget& target);
  void poll_stacks();

  // supervisor_handout.cc
  void refill(int index);
  bool others_hold_tests(int index) const;
  bool steal_for(int thief);
  void on(int index, protocol::ReleasedEvent& event);
  void offer_work(int except);
  void test_ended(std::size_t index);
  LiveTest& live(std::size_t index);
  void settle(std::size_t index);

  // supervisor_faults.cc
  void count_failure();
  void stop_everything();
  void interrupt(int sig);
  void arm_timer();
  void check_deadlines();
  void worker_exited(int index);
  void fill_idle_slots();
  void end_running_test(Slot& slot, const sandbox::ExitInfo& info);

  // supervisor_spares.cc
  bool spare_wanted(int index) const;
  void top_up_spares();
  void spare_starting(int index, uint32_t serial);
  std::unique_ptr<WorkerProcess> take_spare(int index);
  void drop_spare(Slot& slot);
  void drop_spares();
  void spares_fail(const std::string& why);

  // supervisor_summary.cc
  RunResult finish();
  int exit_code(std::size_t not_run_shown) const;

  sandbox::Sandbox& sandbox_;
  // Isolation the sandbox had already said it lacks (the header printed those); what its
  // workers' setups find later (an overlay refused, so read-only) is printed at the end.
  std::size_t isolation_said_ = 0;
  WorkerLaunch launch_;
  SupervisorSettings settings_;
  Terminal& terminal_;
  LiveProgress progress_;
  TerminalKeys keys_;
  std::optional<StackRequest> stack_request_;
  std::vector<Slot> slots_;
  sigset_t saved_mask_{};
  UniqueFd signal_fd_;
  UniqueFd user_signal_fd_;  // SIGUSR1, SIGCONT
  UniqueFd timer_fd_;
  std::optional<Clock::time_point> armed_for_;  // timer_fd_'s expiry as last set (none: off)
  UniqueFd epoll_fd_;

  std::unique_ptr<Zygote> zygote_;  // zygote mode, while it serves forks
  bool spares_off_ = false;         // a spare failed: none from now on
  bool worker_died_ = false;        // a worker ended other than cleanly (Spares::AfterADeath)
  Clock::time_point start_time_;
  std::optional<Clock::time_point> session_deadline_;
  // The terminal's and the record's writes wait for a tick (flush_output) instead of one
  // write(2) per test: at most kOutputTick after the last flush.
  Clock::time_point output_flushed_{};
  bool records_unflushed_ = false;
  std::optional<protocol::CollectedEvent> reference_;
  std::string reference_name_;
  std::optional<Scheduler> scheduler_;
  int active_workers_ = 0;
  // Tests that started and have not ended, with their display facts; an ended test's record
  // goes to the store (a late event loads it back, changes it and stores it again).
  std::unordered_map<std::size_t, LiveTest> live_;
  ResultStore store_;
  std::size_t collected_ = 0;  // tests in the agreed collection
  std::vector<bool> counted_;  // index -> ended (reported once); sized with the collection
  std::size_t counted_total_ = 0;
  std::size_t scheduled_total_ = 0;  // tests this run runs (a shard's share)
  std::vector<std::size_t> finish_order_;
  std::vector<WarningEntry> warnings_;
  std::vector<std::string> internal_errors_;
  std::vector<std::string> startup_failures_;
  int startup_exit_code_ = 0;
  std::string usage_error_;  // a worker's pytest usage error after the collection: the run's
  int failures_ = 0;
  int maxfail_ = 0;
  int restarts_ = 0;
  int deaths_without_progress_ = 0;  // deaths in a test since a test last finished anywhere
  bool stopped_by_maxfail_ = false;
  bool interrupted_ = false;
  bool session_expired_ = false;
  bool fatal_ = false;
  int exit_override_ = 0;
  std::string stop_reason_;
  std::string not_run_reason_;
  std::string mismatch_;
  HostSession host_;
  HostSession::Handler host_handler_;
};

}  // namespace bulkhead

// The run's event loop (see supervisor.h): worker lifecycle, test hand-out, deadlines, and
// turning every way a worker can end into exactly one result per collected test.
#include "src/run/supervisor.h"

#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "src/report/outcome.h"
#include "src/run/collection_check.h"
#include "src/run/progress.h"
#include "src/run/stack_request.h"
#include "src/run/supervisor_slot.h"
#include "src/run/worker_fate.h"
#include "src/run/zygote.h"

namespace bulkhead {
using namespace supervisor_detail;

class Supervisor::Loop {
 public:
  Loop(sandbox::Sandbox& sandbox, WorkerLaunch launch, SupervisorSettings settings,
       Terminal& terminal)
      : sandbox_(sandbox),
        launch_(std::move(launch)),
        settings_(std::move(settings)),
        terminal_(terminal),
        progress_(terminal, settings_.live_progress),
        keys_(settings_.terminal_keys),
        slots_(static_cast<std::size_t>(settings_.workers)),
        host_(settings_.host) {
    host_handler_.workerinput = [this](int slot, uint32_t generation, const std::string& data) {
      if (slots_[static_cast<std::size_t>(slot)].generation == generation)
        send(slot, protocol::encode_workerinput(data));
    };
    host_handler_.stop = [this](const std::string& reason) { stop_handing_out(reason); };
    host_handler_.notice = [this](const std::string& text) { terminal_.line(text, "yellow"); };
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    // SIGUSR1 (stacks on demand) and SIGCONT (terminal modes back) have their own signalfd:
    // the zygote's collection ends early only for the first set.
    sigset_t user_signals;
    sigemptyset(&user_signals);
    sigaddset(&user_signals, SIGUSR1);
    sigaddset(&user_signals, SIGCONT);
    sigset_t blocked = signals;
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGCONT);
    if (sigprocmask(SIG_BLOCK, &blocked, &saved_mask_) != 0) throw_errno("sigprocmask");
    signal_fd_.reset(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) throw_errno("signalfd");
    user_signal_fd_.reset(signalfd(-1, &user_signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!user_signal_fd_) throw_errno("signalfd");
    timer_fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_fd_) throw_errno("timerfd_create");
    epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_fd_) throw_errno("epoll_create1");
    watch(signal_fd_.get(), EPOLLIN, tag(Source::Signal));
    watch(timer_fd_.get(), EPOLLIN, tag(Source::Timer));
    watch(user_signal_fd_.get(), EPOLLIN, tag(Source::UserSignal));
    if (keys_.fd() >= 0) watch(keys_.fd(), EPOLLIN, tag(Source::Keys));
  }

  ~Loop() {
    slots_.clear();  // kills and reaps every worker still alive
    sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
  }

  RunResult run() {
    start_time_ = Clock::now();
    if (settings_.session_timeout_s) {
      session_deadline_ = start_time_ + std::chrono::duration_cast<Clock::duration>(
                                            Seconds(*settings_.session_timeout_s));
    }
    if (!settings_.zygote_refused.empty()) zygote_fallback(settings_.zygote_refused);
    if (!settings_.zygote || start_zygote()) {
      for (int slot = 0; slot < settings_.workers; ++slot) {
        if (!slots_[static_cast<std::size_t>(slot)].retired) start_worker(slot);
      }
    }
    while (live_workers() > 0) {
      arm_timer();
      epoll_event events[64];
      const int ready = epoll_wait(epoll_fd_.get(), events, 64, -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        throw_errno("epoll_wait");
      }
      for (int i = 0; i < ready; ++i) dispatch(events[i]);
      check_deadlines();
      poll_stacks();
      refresh_progress();
    }
    return finish();
  }

 private:
  // -- plumbing ---------------------------------------------------------------------------

  void watch(int fd, uint32_t events, uint64_t data) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = data;
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) throw_errno("epoll_ctl(ADD)");
  }

  void rewatch(int fd, uint32_t events, uint64_t data) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = data;
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event);
  }

  void unwatch(int fd) {
    if (fd >= 0) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }

  int live_workers() const {
    int count = 0;
    for (const Slot& slot : slots_) count += slot.worker != nullptr;
    return count;
  }

  void send(int index, const std::string& line) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (!slot.worker) return;
    if (slot.worker->send(line)) {
      rewatch(slot.worker->channel_fd(), EPOLLIN | EPOLLOUT,
              tag(Source::Channel, index, slot.generation));
    }
  }

  // -- the zygote --------------------------------------------------------------------------

  // Spawns the zygote and waits for its collection (src/run/zygote.h). Returns whether workers
  // are to be started: forked from it when it said it may fork, else spawned.
  bool start_zygote() {
    try {
      zygote_ = std::make_unique<Zygote>(sandbox_, launch_, varying_variables(launch_));
    } catch (const std::exception& error) {
      zygote_fallback(std::string("the zygote did not start: ") + error.what());
      return true;
    }
    std::string pending;
    auto live = [&](int, std::string_view data) {
      if (settings_.live_output) terminal_.worker_output("zygote", data, pending);
    };
    ZygoteCollection outcome = zygote_->collect(signal_fd_.get(), session_deadline_, live);
    if (!pending.empty()) terminal_.worker_output("zygote", "\n", pending);
    using Outcome = ZygoteCollection::Outcome;
    if (outcome.outcome != Outcome::Ready) zygote_.reset();
    switch (outcome.outcome) {
      case Outcome::Interrupted: {
        signalfd_siginfo info{};
        if (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
          interrupt(static_cast<int>(info.ssi_signo));
        }
        return false;
      }
      case Outcome::Deadline:
        check_deadlines();
        return false;
      case Outcome::Died:  // spawned workers meet the same failure and report it as usual
        zygote_fallback("the zygote ended before its collection: " + outcome.reason);
        return true;
      case Outcome::Refused:  // spawned workers collect and are compared, as without it
        zygote_fallback(outcome.reason);
        return true;
      case Outcome::Ready:
        break;
    }
    launch_.fork = [this](const sandbox::SpawnSpec& spec) { return fork_worker(spec); };
    for (auto& warning : outcome.warnings) {
      warnings_.push_back({std::move(warning.nodeid), std::move(warning.message)});
    }
    internal_errors_.insert(internal_errors_.end(), outcome.internal_errors.begin(),
                            outcome.internal_errors.end());
    reference_name_ = "gw0";  // it collected with gw0's environment
    adopt_collection(std::move(*outcome.collected));
    return scheduler_.has_value();
  }

  // A worker from the zygote; if that fails, from a spawn from now on (said once).
  std::unique_ptr<sandbox::Child> fork_worker(const sandbox::SpawnSpec& spec) {
    if (zygote_) {
      try {
        return zygote_->fork(spec);
      } catch (const std::exception& error) {
        zygote_fallback(std::string("forking ") + spec.name + " failed: " + error.what());
        zygote_.reset();
      }
    }
    return sandbox_.spawn(spec);
  }

  void zygote_fallback(const std::string& reason) {
    if (terminal_.quiet()) return;
    std::string line = reason.substr(0, reason.find('\n'));
    terminal_.line("bulkhead: workers are started on their own, not forked: " + line, "yellow");
  }

  // -- worker lifecycle --------------------------------------------------------------------

  void start_worker(int index) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    const int incarnations = slot.incarnations;
    const uint32_t generation = slot.generation + 1;
    slot = Slot();
    slot.incarnations = incarnations;
    slot.generation = generation;
    if (zygote_ && !zygote_->alive()) {
      zygote_.reset();  // its workers died with it; replacements are spawned
      zygote_fallback("the zygote ended during the run");
    }
    try {
      slot.worker = std::make_unique<WorkerProcess>(sandbox_, launch_, index, slot.incarnations);
    } catch (const std::exception& error) {
      slot.worker.reset();
      slot.retired = true;
      startup_failures_.push_back("gw" + std::to_string(index) + ": " + error.what());
      if (live_workers() == 0 && !reference_) fatal_ = true;
      return;
    }
    ++slot.incarnations;
    WorkerProcess& worker = *slot.worker;
    watch(worker.channel_fd(), EPOLLIN, tag(Source::Channel, index, slot.generation));
    watch(worker.stdout_fd(), EPOLLIN, tag(Source::Stdout, index, slot.generation));
    watch(worker.stderr_fd(), EPOLLIN, tag(Source::Stderr, index, slot.generation));
    watch(worker.pidfd(), EPOLLIN, tag(Source::Pidfd, index, slot.generation));
    if (zygote_) {  // forked: it has the zygote's collection
      slot.collected = true;
      slot.guard.forked();
      worker.set_line_cap(protocol::event_line_cap(launch_.output_cap_bytes));
      refill(index);
    }
    if (settings_.hooks) settings_.hooks->worker_started(index, worker.child().take_listeners());
  }

  void dispatch(const epoll_event& event) {
    const auto source = static_cast<Source>(event.data.u64 & 0xff);
    if (source == Source::Timer) {
      uint64_t expirations = 0;
      [[maybe_unused]] auto ignored = read(timer_fd_.get(), &expirations, sizeof expirations);
      return;
    }
    if (source == Source::Host) return host_.on_ready(host_handler_);
    if (source == Source::UserSignal || source == Source::Keys) return on_user(source);
    if (source == Source::Signal) {
      signalfd_siginfo info{};
      while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
        interrupt(static_cast<int>(info.ssi_signo));
      }
      return;
    }
    const int index = static_cast<int>(event.data.u64 >> 40);
    const auto generation = static_cast<uint32_t>((event.data.u64 >> 8) & 0xffffffff);
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (!slot.worker || slot.generation != generation) return;  // a replaced worker's event
    WorkerProcess& worker = *slot.worker;
    switch (source) {
      case Source::Channel:
        if (event.events & EPOLLOUT) {
          if (!worker.flush()) {
            rewatch(worker.channel_fd(), EPOLLIN, tag(Source::Channel, index, generation));
          }
        }
        if (event.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_channel(index);
        break;
      case Source::Stdout:
      case Source::Stderr:
        read_output(index, source == Source::Stdout ? 1 : 2);
        break;
      case Source::Pidfd:
        worker_exited(index);
        break;
      default:
        break;
    }
  }

  void read_channel(int index) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    WorkerProcess& worker = *slot.worker;
    const int fd = worker.channel_fd();
    try {
      const bool open = worker.read_channel([&](std::string_view line) {
        if (slot.protocol_broken || line.empty()) return;
        try {
          protocol::Event event =
              slot.guard.accept(line, reference_ ? &reference_->items : nullptr);
          if (host_.running() && host_.wants(event)) host_.forward(index, slot.generation, line);
          handle_event(index, event);
        } catch (const protocol::ProtocolError& error) {
          protocol_failure(index, error.what());
        }
      });
      if (!open) unwatch(fd);
    } catch (const protocol::ProtocolError& error) {
      protocol_failure(index, error.what());
    }
  }

  void protocol_failure(int index, const std::string& what) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (slot.protocol_broken) return;
    slot.protocol_broken = true;
    slot.protocol_error = "protocol error from " + slot.worker->name() + ": " + what;
    internal_errors_.push_back(slot.protocol_error);
    slot.worker->child().kill();
  }

  void read_output(int index, int stream) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    WorkerProcess& worker = *slot.worker;
    const int fd = stream == 1 ? worker.stdout_fd() : worker.stderr_fd();
    std::function<void(std::string_view)> live;
    if (settings_.live_output) {
      std::string& pending = stream == 1 ? slot.live_stdout : slot.live_stderr;
      live = [this, &pending, &worker](std::string_view data) {
        terminal_.worker_output(worker.name(), data, pending);
      };
    }
    if (!worker.read_output(stream, live)) unwatch(fd);
  }

  // -- events from a worker ----------------------------------------------------------------

  void handle_event(int index, protocol::Event event) {
    std::visit([&](auto& typed) { on(index, typed); }, event);
  }

  void on(int index, protocol::CollectedEvent& event) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (!reference_) {
      reference_name_ = slot.worker->name();
      adopt_collection(std::move(event));
    } else if (!same_collection(index, event)) {
      return;
    }
    slot.collected = true;
    slot.worker->set_line_cap(protocol::event_line_cap(launch_.output_cap_bytes));
    if (!scheduler_ || index >= active_workers_) {
      send(index, protocol::encode_shutdown());
      slot.shutdown_sent = true;
      slot.retired = true;
      return;
    }
    refill(index);
  }

  std::vector<ScheduledItem> scheduled_items() const {
    std::vector<ScheduledItem> scheduled;
    scheduled.reserve(reference_->items.size());
    for (const auto& item : reference_->items) scheduled.push_back({item.nodeid, item.group});
    return scheduled;
  }

  // This run's share of the agreed collection (a shard's tests) and their expected times.
  WorkPlan plan_work() {
    WorkPlan plan;
    if (settings_.plan_work && !reference_->items.empty()) {
      plan = settings_.plan_work(scheduled_items());
    }
    scheduled_total_ = plan.selected.empty()
                           ? reference_->items.size()
                           : static_cast<std::size_t>(
                                 std::count(plan.selected.begin(), plan.selected.end(), true));
    return plan;
  }

  void adopt_collection(protocol::CollectedEvent event) {
    reference_ = std::move(event);
    const auto& items = reference_->items;
    terminal_.use_settings(reference_->settings);
    std::size_t collect_errors = 0;
    for (const auto& report : reference_->collect_reports) {
      if (phase_category(report.report.phase) == "error") ++collect_errors;
    }
    WorkPlan plan = plan_work();
    const std::size_t outside = items.size() - scheduled_total_;
    std::vector<std::string> header = reference_->header_lines;
    if (!host_.notice().empty()) header.push_back(host_.notice());
    terminal_.collected(scheduled_total_, reference_->deselected + outside, collect_errors, header,
                        reference_->collection_lines);
    if (!plan.note.empty()) terminal_.line(plan.note);
    records_.resize(items.size());
    displays_.resize(items.size());
    counted_.assign(items.size(), false);
    for (std::size_t i = 0; i < items.size(); ++i) {
      records_[i].index = i;
      records_[i].nodeid = items[i].nodeid;
      if (!plan.selected.empty() && !plan.selected[i]) counted_[i] = true;  // another shard's
    }
    maxfail_ = reference_->settings.maxfail;
    if (collect_errors > 0 && !reference_->settings.continue_on_collection_errors) {
      stop_reason_ = "Interrupted: " + std::to_string(collect_errors) +
                     (collect_errors == 1 ? " error" : " errors") + " during collection";
      exit_override_ = 2;
      return;
    }
    if (scheduled_total_ == 0) return;
    active_workers_ = std::min<int>(settings_.workers, static_cast<int>(scheduled_total_));
    progress_.plan(plan.selected, plan.expected_s, active_workers_, start_time_);
    scheduler_.emplace(settings_.dist, scheduled_items(), active_workers_, std::move(plan));
    if (settings_.isolate_units) scheduler_->one_unit_per_batch();
    // Slots beyond the test count are not needed; those still starting are told on collect.
    for (int i = active_workers_; i < settings_.workers; ++i) {
      slots_[static_cast<std::size_t>(i)].retired = true;
    }
  }

  bool same_collection(int index, const protocol::CollectedEvent& event) {
    mismatch_ = collection_difference(reference_->items, reference_worker_name(), event.items,
                                      "gw" + std::to_string(index));
    if (mismatch_.empty()) return true;
    exit_override_ = kExitCollectionMismatch;
    stop_everything();
    return false;
  }

  std::string reference_worker_name() const {
    return reference_name_.empty() ? "gw0" : reference_name_;
  }

  void on(int index, protocol::StartEvent& event) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (!reference_ || event.index >= records_.size()) {
      protocol_failure(index, "start of unknown test index " + std::to_string(event.index));
      return;
    }
    slot.running = event.index;
    slot.running_since = Clock::now();
    slot.running_wall_start = wall_now();
    slot.marker_timeout_s = event.timeout_s;
    slot.timeout_fired = false;
    slot.kill_at.reset();
    slot.stacks_poll_at.reset();
    slot.stacks_dumped = false;
    std::optional<double> limit = event.timeout_s;
    if (!limit) limit = settings_.test_timeout_s;
    if (!limit) limit = parse_timeout_text(reference_->settings.ini_timeout);
    if (!limit) limit = settings_.profile_timeout_s;
    set_limit(slot, limit);
    records_[event.index].worker = slot.worker->name();
  }

  void set_limit(Slot& slot, std::optional<double> limit) {
    if (limit && *limit <= 0) limit.reset();  // 0 disables, as in pytest-timeout
    slot.running_limit_s = limit;
    slot.deadline.reset();
    if (limit) {
      slot.deadline =
          slot.running_since + std::chrono::duration_cast<Clock::duration>(Seconds(*limit));
    }
  }

  void on(int index, protocol::TimeoutEvent& event) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    // pytest-timeout's value counts only when neither the marker nor --timeout set one.
    if (slot.running != event.index || slot.marker_timeout_s || settings_.test_timeout_s) return;
    set_limit(slot, event.seconds);
  }

  void on(int index, protocol::ReportEvent& event) {
    if (!event.index || *event.index >= records_.size()) return;
    TestRecord& record = records_[*event.index];
    PhaseReport& phase = event.report.phase;
    const bool counts_as_failure = phase.outcome == "failed" && phase.wasxfail.empty();
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (phase.outcome == "failed") note_pids_limit(slot, phase, event.report.display);
    record.worker = slot.worker->name();
    record.phases.push_back(std::move(event.report.phase));
    displays_[*event.index].push_back(std::move(event.report.display));
    if (counts_as_failure) count_failure();
  }

  // A test that failed after its sandbox refused forks at pids.max says so: the failure it
  // shows (EAGAIN, "can't start new thread") rarely names the cause. One cgroup read, and only
  // for failed phases.
  void note_pids_limit(Slot& slot, PhaseReport& phase, protocol::PhaseDisplay& display) {
    const uint64_t hits = slot.worker->child().counters().pids_limit_hits;
    if (hits <= slot.pids_limit_hits) return;
    slot.pids_limit_hits = hits;
    add_pids_limit_note(phase, display.longrepr_color, sandbox_.profile().limits.pids.value_or(0),
                        hits);
  }

  void on(int index, protocol::FinishedEvent& event) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (event.index >= records_.size()) return;
    if (slot.running == event.index) {
      slot.running.reset();
      slot.deadline.reset();
      slot.kill_at.reset();  // it finished before the kill: let it live
      slot.stacks_poll_at.reset();
      slot.timeout_fired = false;
    }
    test_ended(event.index);
    deaths_without_progress_ = 0;
    if (scheduler_ && index < active_workers_) scheduler_->on_finished(index, event.index);
    refill(index);
    offer_work(index);
  }

  void on(int, protocol::WarningEvent& event) {
    warnings_.push_back({std::move(event.nodeid), std::move(event.message)});
  }

  void on(int index, protocol::InternalErrorEvent& event) {
    internal_errors_.push_back("gw" + std::to_string(index) + ": " + event.text);
  }

  void on(int index, protocol::NeedControllerEvent& event) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    const bool watched = host_.fd() >= 0;
    host_.need(index, slot.generation, event.reasons, event.wait, host_handler_);
    if (!watched && host_.fd() >= 0) watch(host_.fd(), EPOLLIN, tag(Source::Host));
  }

  void on(int, protocol::WorkerOutputEvent&) {}  // forwarded to the host session

  void on(int index, protocol::DoneEvent&) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    slot.done = true;
    slot.exit_by =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(settings_.exit_grace_s));
  }

  // -- scheduling ----------------------------------------------------------------------------

  void refill(int index) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    if (!slot.worker || !slot.collected || slot.shutdown_sent || !scheduler_ ||
        index >= active_workers_) {
      return;
    }
    if (settings_.isolate_units) {  // one unit per sandbox, then it ends
      if (!slot.unit_given && !scheduler_->stopped()) {
        const std::vector<std::size_t> unit = scheduler_->next_batch(index);
        slot.unit_given = !unit.empty();
        if (slot.unit_given) send(index, protocol::encode_run(slot.guard.handed(unit)));
      }
      if (slot.unit_given || scheduler_->all_handed_out() || scheduler_->stopped()) {
        send(index, protocol::encode_shutdown());
        slot.shutdown_sent = true;
      }
      return;
    }
    // The worker runs a test only once it knows the next one (or that none will come), so it
    // must hold at least two, or be told there is no more.
    std::vector<std::size_t> batch;
    while (!scheduler_->stopped() && scheduler_->held(index) < 2) {
      const std::vector<std::size_t> more = scheduler_->next_batch(index);
      if (more.empty()) break;
      batch.insert(batch.end(), more.begin(), more.end());
    }
    if (!batch.empty()) send(index, protocol::encode_run(slot.guard.handed(batch)));
    // It holds one test and waits to learn the next, but what is left are suspects other
    // workers will take: let it run this one now rather than wait.
    if (!scheduler_->stopped() && !scheduler_->all_handed_out() && scheduler_->held(index) == 1 &&
        !scheduler_->has_work_for(index)) {
      send(index, protocol::encode_go());
    }
    if (scheduler_->stopped()) {
      send(index, protocol::encode_shutdown());
      slot.shutdown_sent = true;
      return;
    }
    if (steal_for(index)) return;
    // Nothing left to hand out. A shut-down worker takes no more, so while others still hold
    // tests (which come back if one dies), a worker that can go on without it (it holds two:
    // one to run, one to know as `nextitem`) is not told yet; the next refill asks again.
    if (scheduler_->all_handed_out() &&
        (scheduler_->held(index) < 2 || !others_hold_tests(index))) {
      send(index, protocol::encode_shutdown());
      slot.shutdown_sent = true;
    }
  }

  bool others_hold_tests(int index) const {
    for (int i = 0; i < active_workers_; ++i) {
      if (i != index && slots_[static_cast<std::size_t>(i)].worker && scheduler_->held(i) > 0) {
        return true;
      }
    }
    return false;
  }

  // -- work stealing (Scheduler::steal_for) ---------------------------------------------------

  // True while `thief` should wait for tests taken back from a busier worker.
  bool steal_for(int thief) {
    std::vector<bool> can_give;
    for (int i = 0; i < active_workers_; ++i) can_give.push_back(slots_[i].can_give_back());
    const StealStep step = scheduler_->steal_for(thief, can_give);
    if (step.request) {
      Slot& victim = slots_[static_cast<std::size_t>(step.request->victim)];
      send(step.request->victim, protocol::encode_steal(victim.guard.asked(step.request->units)));
    }
    return step.wait;
  }

  // A worker's answer to a steal: what it gave back goes to the thief first, then to anyone.
  void on(int index, protocol::ReleasedEvent& event) {
    if (!scheduler_ || index >= active_workers_) return;
    const int thief = scheduler_->thief_waiting_on(index);
    scheduler_->on_released(index, event.indices);
    if (thief >= 0) refill(thief);
    offer_work(thief);
    fill_idle_slots();
  }

  // Workers waiting for work to steal, or for tests given back, look again.
  void offer_work(int except) {
    for (int i = 0; scheduler_ && i < active_workers_; ++i) {
      if (i != except && scheduler_->held(i) <= Scheduler::kStealBelowHeld) refill(i);
    }
  }

  void test_ended(std::size_t index) {
    TestRecord& record = records_[index];
    if (record.finished && counted_[index]) return;
    record.finished = true;
    counted_[index] = true;
    ++counted_total_;
    finish_order_.push_back(index);
    progress_.finished(index);
    terminal_.test_finished(record, counted_total_, scheduled_total_);
  }

  void count_failure() {
    ++failures_;
    if (maxfail_ > 0 && failures_ >= maxfail_) {
      stop_handing_out("stopping after " + std::to_string(failures_) + " failures");
    }
  }

  // -x / --maxfail, or the host session's pytest asked to stop (--sw): no more hand-outs,
  // workers drop their queues, and what ran is reported.
  void stop_handing_out(const std::string& reason) {
    if (stop_reason_.empty()) {
      stop_reason_ = reason;
      stopped_by_maxfail_ = true;
      if (scheduler_) scheduler_->stop();
      for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
        Slot& slot = slots_[static_cast<std::size_t>(i)];
        if (!slot.worker) continue;
        send(i, protocol::encode_stop());
        slot.shutdown_sent = true;
        slot.retired = true;
      }
    }
  }

  // Ends the run now: no more hand-outs, every sandbox killed.
  void stop_everything() {
    if (scheduler_) scheduler_->stop();
    for (Slot& slot : slots_) {
      slot.retired = true;
      if (slot.worker) slot.worker->child().kill();
    }
  }

  void interrupt(int sig) {
    if (interrupted_) return;
    interrupted_ = true;
    not_run_reason_ = std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop_reason_ = sig == SIGINT ? "KeyboardInterrupt" : "Terminated (SIGTERM)";
    exit_override_ = 2;
    stop_everything();
  }

  // -- time --------------------------------------------------------------------------------

  void arm_timer() {
    std::optional<Clock::time_point> next = session_deadline_;
    auto consider = [&next](const std::optional<Clock::time_point>& when) {
      if (when && (!next || *when < *next)) next = when;
    };
    for (const Slot& slot : slots_) slot.deadlines(consider);
    consider(progress_.due());
    if (stack_request_) consider(stack_request_->next_poll());
    itimerspec spec{};
    if (next) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now());
      if (left.count() < 1000) left = std::chrono::nanoseconds(1000);
      spec.it_value.tv_sec = static_cast<time_t>(left.count() / 1000000000);
      spec.it_value.tv_nsec = static_cast<long>(left.count() % 1000000000);
    }
    timerfd_settime(timer_fd_.get(), 0, &spec, nullptr);
  }

  void check_deadlines() {
    const auto now = Clock::now();
    if (session_deadline_ && now >= *session_deadline_ && !session_expired_) {
      session_expired_ = true;
      stop_reason_ = "session timeout of " + format_seconds(*settings_.session_timeout_s) +
                     " reached (--session-timeout)";
      not_run_reason_ = "session timeout of " + format_seconds(*settings_.session_timeout_s) +
                        " reached before it ran";
      exit_override_ = 2;
      stop_everything();
      return;
    }
    for (Slot& slot : slots_) slot.check_deadlines(now, settings_.stack_dump_grace_s);
  }

  // -- progress and stacks on demand (src/run/progress.h, stack_request.h) -------------------

  // Running tests, longest-running first, with their slots.
  std::vector<std::pair<int, RunningTest>> running_tests(Clock::time_point now) const {
    std::vector<std::pair<int, RunningTest>> running;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& slot = slots_[static_cast<std::size_t>(i)];
      if (!slot.worker || !slot.running) continue;
      running.push_back({i,
                         {slot.worker->name(), records_[*slot.running].nodeid,
                          Seconds(now - slot.running_since).count()}});
    }
    std::stable_sort(running.begin(), running.end(), [](const auto& a, const auto& b) {
      return a.second.elapsed_s > b.second.elapsed_s;
    });
    return running;
  }

  void refresh_progress() {
    const auto due = progress_.due();
    if (!due || !scheduler_) return;
    const auto now = Clock::now();
    if (now < *due) return;
    LiveStatus status;
    status.done = counted_total_;
    status.total = scheduled_total_;
    status.failed = failures_ > 0;
    std::vector<std::size_t> indices;
    for (auto& [slot, test] : running_tests(now)) {
      indices.push_back(*slots_[static_cast<std::size_t>(slot)].running);
      status.running.push_back(std::move(test));
    }
    status.queue_empty = status.done + status.running.size() >= status.total;
    progress_.refresh(now, std::move(status), indices);
  }

  void on_user(Source source) {
    bool wanted = false;
    if (source == Source::Keys) {
      wanted = keys_.read().find('t') != std::string::npos;
      if (keys_.fd() < 0) unwatch(STDIN_FILENO);  // the terminal is no longer ours
    } else {
      signalfd_siginfo info{};
      while (read(user_signal_fd_.get(), &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGCONT) keys_.reapply();
        wanted |= info.ssi_signo == SIGUSR1;
      }
    }
    if (!wanted || stack_request_) return;  // one report at a time
    const auto now = Clock::now();
    std::vector<StackTarget> targets;
    for (auto& [index, test] : running_tests(now)) {
      Slot& slot = slots_[static_cast<std::size_t>(index)];
      if (slot.timeout_fired) continue;  // its timeout is already dumping and killing it
      StackTarget target{index, slot.generation, std::move(test), slot.worker->stacks_size()};
      slot.worker->child().signal(SIGUSR1);
      targets.push_back(std::move(target));
    }
    stack_request_.emplace(std::move(targets), now, settings_.stack_dump_grace_s);
    poll_stacks();
  }

  Slot* asked_slot(const StackTarget& target) {
    Slot& slot = slots_[static_cast<std::size_t>(target.slot)];
    return slot.worker && slot.generation == target.generation ? &slot : nullptr;
  }

  void poll_stacks() {
    if (!stack_request_) return;
    const bool complete = stack_request_->targets().empty() ||
                          stack_request_->poll(Clock::now(), [this](const StackTarget& target) {
                            const Slot* slot = asked_slot(target);
                            return slot ? std::optional(slot->worker->stacks_size()) : std::nullopt;
                          });
    if (!complete) return;
    std::vector<std::optional<std::string>> stacks;
    for (const StackTarget& target : stack_request_->targets()) {
      Slot* slot = asked_slot(target);
      if (!slot) {
        stacks.emplace_back();
        continue;
      }
      stacks.push_back(slot->worker->read_stacks(target.from));
      if (!slot->timeout_fired) slot->stacks_from = slot->worker->stacks_size();
    }
    print_stack_report(terminal_, stack_request_->targets(), stacks);
    stack_request_.reset();
  }

  // -- a worker ended ------------------------------------------------------------------------

  void worker_exited(int index) {
    Slot& slot = slots_[static_cast<std::size_t>(index)];
    // Everything it wrote before dying is still buffered: take it first.
    if (slot.worker->channel_fd() >= 0) read_channel(index);
    if (slot.worker->stdout_fd() >= 0) read_output(index, 1);
    if (slot.worker->stderr_fd() >= 0) read_output(index, 2);
    const sandbox::ExitInfo info = slot.worker->child().wait();
    for (std::string* pending : {&slot.live_stdout, &slot.live_stderr}) {
      if (!pending->empty()) terminal_.worker_output(slot.worker->name(), "\n", *pending);
    }
    const bool clean = slot.done && !slot.protocol_broken;
    if (slot.running) end_running_test(slot, info);  // before pytest_testnodedown
    host_.node_down(index, slot.generation, clean ? "" : describe_exit(slot.worker->name(), info));

    if (!slot.collected && !reference_) {
      // Died before the first collection anywhere: a broken command line, conftest or env.
      startup_failures_.push_back(describe_exit(slot.worker->name(), info) + "\n" +
                                  slot.worker->stderr_tail());
      if (info.exited && info.exit_code >= 1 && info.exit_code <= 5) {
        startup_exit_code_ = info.exit_code;
      }
      slot.retired = true;
      if (settings_.hooks) settings_.hooks->worker_ended(index);
      slot.release();
      if (live_workers() == 0) fatal_ = true;
      return;
    }

    const std::optional<std::size_t> lost = slot.running;
    if (scheduler_ && index < active_workers_) scheduler_->on_worker_lost(index, lost);
    if (settings_.hooks) settings_.hooks->worker_ended(index);
    slot.release();
    // Its held tests went back to the queue: workers that can still take tests get them now,
    // not at their next result (an idle one would otherwise wait for nothing).
    for (int i = 0; i < active_workers_; ++i) {
      if (i != index) refill(i);
    }
    // A worker that died in a test has had its culprit reported: replacing it always makes
    // progress, so only deaths with no test to blame (startup, between tests) use up
    // --max-worker-restart. One bad test never costs the rest of the run. A worker that ended
    // cleanly costs nothing either: its slot takes a fresh worker if requeued tests wait.
    // ...unless workers keep dying in tests with none finishing anywhere in between (a session
    // fixture or conftest that crashes every worker): past --max-worker-restart such deaths
    // count too, so the run ends instead of starting one worker per test.
    if (!clean && lost) ++deaths_without_progress_;
    slot.blameless_death =
        !clean && (!lost || deaths_without_progress_ > settings_.max_worker_restart);
    fill_idle_slots();
  }

  // Requeued tests (a dead worker's held ones) must reach a live worker. Workers that were told
  // `shutdown` take no more, so an empty slot (its worker died, or ended cleanly after its
  // shutdown) gets a fresh worker while more tests wait than live workers can still take.
  void fill_idle_slots() {
    if (!scheduler_ || scheduler_->stopped() || interrupted_ || session_expired_) return;
    if (scheduler_->all_handed_out()) return;
    const std::size_t queued = scheduler_->never_handed_out().size();
    std::size_t receptive = 0;  // live workers that may still be handed tests
    for (int i = 0; i < active_workers_; ++i) {
      const Slot& slot = slots_[static_cast<std::size_t>(i)];
      receptive += slot.worker && !slot.shutdown_sent;
    }
    for (int i = 0; i < active_workers_ && receptive < queued; ++i) {
      Slot& slot = slots_[static_cast<std::size_t>(i)];
      if (slot.worker || slot.retired) continue;
      if (slot.blameless_death) {
        if (restarts_ >= settings_.max_worker_restart) {
          slot.retired = true;
          if (not_run_reason_.empty()) {
            not_run_reason_ =
                deaths_without_progress_ > settings_.max_worker_restart
                    ? std::to_string(deaths_without_progress_) +
                          " workers in a row died in a test with none finishing in between "
                          "(a crashing session fixture or conftest?); worker restarts "
                          "exhausted (--max-worker-restart " +
                          std::to_string(settings_.max_worker_restart) + ")"
                    : "worker restarts exhausted (--max-worker-restart " +
                          std::to_string(settings_.max_worker_restart) + ")";
          }
          continue;
        }
        ++restarts_;
      }
      start_worker(i);
      receptive += slots_[static_cast<std::size_t>(i)].worker != nullptr;
    }
  }

  // The worker died (or was killed) while running a test: record why, once.
  void end_running_test(Slot& slot, const sandbox::ExitInfo& info) {
    const std::size_t index = *slot.running;
    TestRecord& record = records_[index];
    if (counted_[index]) return;
    const double duration =
        std::chrono::duration_cast<Seconds>(Clock::now() - slot.running_since).count();
    WorkerProcess& worker = *slot.worker;
    if (interrupted_) {
      record_cause(record, Cause::NotRun, not_run_reason_);
    } else {
      FateInput input;
      input.worker = worker.name();
      input.exit = info;
      input.timed_out = slot.timeout_fired;
      input.test_limit_s = slot.running_limit_s;
      input.session_expired = session_expired_;
      input.session_limit_s = settings_.session_timeout_s;
      if (slot.timeout_fired || session_expired_)
        input.stacks = worker.read_stacks(slot.stacks_from);
      input.stderr_tail = worker.stderr_tail();
      if (slot.protocol_broken) input.protocol_error = slot.protocol_error;
      input.message_cut_off = !worker.channel_partial().empty();
      if (settings_.logs_kept) input.log_path = worker.log_path();
      const Fate fate = describe_fate(input);
      record_cause(record, fate.cause, fate.message, fate.details, slot.running_wall_start,
                   duration);
    }
    record.worker = worker.name();
    displays_[index].resize(record.phases.size());
    if (const auto phase = cause_phase_index(record)) {
      host_.lost(worker.slot(), slot.generation, record.nodeid, record.phases[*phase].when,
                 record.cause_message, record.phases[*phase].duration);
    }
    if (record.cause != Cause::NotRun) count_failure();
    test_ended(index);
  }

  // -- the end -------------------------------------------------------------------------------

  RunResult finish() {
    progress_.stop();
    RunResult result;
    if (reference_) {
      result.worker_settings = reference_->settings;
      result.pytest_version = reference_->settings.pytest_version;
      result.python_version = reference_->settings.python_version;
    }
    // Tests that never ran: reported NotRun with the reason, unless -x/--maxfail stopped the
    // run, where pytest reports exactly what ran.
    std::vector<std::size_t> not_run;
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (!counted_[i]) not_run.push_back(i);
    }
    std::size_t not_run_shown = 0;
    const bool collection_interrupted = exit_override_ == 2 && !interrupted_ && !session_expired_;
    if (!stopped_by_maxfail_ && !collection_interrupted && !mismatch_.size()) {
      const std::string reason =
          not_run_reason_.empty() ? "its worker ended before running it" : not_run_reason_;
      for (std::size_t index : not_run) {
        record_cause(records_[index], Cause::NotRun, "not run: " + reason);
        finish_order_.push_back(index);
        ++not_run_shown;
      }
    }

    if (!mismatch_.empty()) terminal_.line(mismatch_, "red");
    if (!reference_ && (session_expired_ || interrupted_)) {
      // Stopped by us before any collection ended: the deaths that followed are ours.
      terminal_.line("bulkhead: " + stop_reason_ + " before collection finished; no test ran",
                     "red");
    } else if (fatal_ && !reference_) {
      for (const std::string& failure : distinct_startup_failures(startup_failures_)) {
        terminal_.line("bulkhead: " + failure, "red");
      }
    }

    // The host session's pytest finishes its session (caches, coverage): its summary sections
    // go where pytest prints them.
    const HostSummary host =
        host_.finish(interrupted_ ? stop_reason_ : "", failures_, signal_fd_.get(), host_handler_);
    internal_errors_.insert(internal_errors_.end(), host.errors.begin(), host.errors.end());
    SummaryInput summary;
    summary.plugin_sections = host.sections;
    for (const auto& [nodeid, message] : host.warnings) warnings_.push_back({nodeid, message});
    for (std::size_t index : finish_order_) {
      summary.tests.push_back({&records_[index], &displays_[index]});
    }
    if (reference_) {
      summary.collect_reports = reference_->collect_reports;
      summary.deselected = reference_->deselected;
    }
    summary.warnings = warnings_;
    summary.not_run_shown = not_run_shown;
    summary.interrupted = stop_reason_;
    summary.internal_errors = internal_errors_;
    summary.duration_s = std::chrono::duration_cast<Seconds>(Clock::now() - start_time_).count();
    if (reference_ || !internal_errors_.empty()) terminal_.summary(summary);

    for (std::size_t index : finish_order_) result.records.push_back(records_[index]);
    std::sort(result.records.begin(), result.records.end(),
              [](const TestRecord& a, const TestRecord& b) { return a.index < b.index; });
    result.exit_code = exit_code(not_run_shown);
    if (host.finished && host.exit_status == 1 && result.exit_code == 0) result.exit_code = 1;
    result.host_session_finished = host.finished;
    if (reference_) result.pytest_cache = reference_->cache;
    for (const TestRecord& record : records_) result.collected.push_back(record.nodeid);
    return result;
  }

  int exit_code(std::size_t not_run_shown) const {
    if (!reference_ && (session_expired_ || interrupted_)) return exit_override_;
    if (!reference_) return startup_exit_code_ ? startup_exit_code_ : 3;
    if (exit_override_) return exit_override_;
    if (!internal_errors_.empty()) return 3;
    bool failed = false;
    // Collection errors the run went on past (--continue-on-collection-errors) fail it, as
    // in pytest.
    for (const auto& report : reference_->collect_reports) {
      failed |= phase_category(report.report.phase) == "error";
    }
    if (failed || any_failure(records_) || not_run_shown > 0) return 1;
    if (records_.empty()) return 5;
    return 0;
  }

  sandbox::Sandbox& sandbox_;
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
  UniqueFd epoll_fd_;

  std::unique_ptr<Zygote> zygote_;  // zygote mode, while it serves forks
  Clock::time_point start_time_;
  std::optional<Clock::time_point> session_deadline_;
  std::optional<protocol::CollectedEvent> reference_;
  std::string reference_name_;
  std::optional<Scheduler> scheduler_;
  int active_workers_ = 0;
  std::vector<TestRecord> records_;
  std::vector<std::vector<protocol::PhaseDisplay>> displays_;
  std::vector<bool> counted_;  // index -> ended (reported once); sized with records_
  std::size_t counted_total_ = 0;
  std::size_t scheduled_total_ = 0;  // tests this run runs (a shard's share)
  std::vector<std::size_t> finish_order_;
  std::vector<WarningEntry> warnings_;
  std::vector<std::string> internal_errors_;
  std::vector<std::string> startup_failures_;
  int startup_exit_code_ = 0;
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

Supervisor::Supervisor(sandbox::Sandbox& sandbox, WorkerLaunch launch, SupervisorSettings settings,
                       Terminal& terminal)
    : loop_(std::make_unique<Loop>(sandbox, std::move(launch), std::move(settings), terminal)) {}

Supervisor::~Supervisor() = default;

RunResult Supervisor::run() { return loop_->run(); }

}  // namespace bulkhead

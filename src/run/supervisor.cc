// The run's event loop (declared in supervisor_loop.h): the loop itself, starting workers,
// reading their channels and output, the collection, each test's events, the progress line
// and stacks on demand (SIGUSR1, `t`). Handing
// out tests, stops/deadlines/worker ends and the end of the run are in
// supervisor_handout.cc, supervisor_faults.cc and supervisor_summary.cc.
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
#include "src/run/supervisor_loop.h"
#include "src/run/supervisor_slot.h"
#include "src/run/worker_fate.h"
#include "src/run/zygote.h"

namespace bulkhead {
using namespace supervisor_detail;

Supervisor::Loop::Loop(sandbox::Sandbox& sandbox, WorkerLaunch launch, SupervisorSettings settings,
                       Terminal& terminal)
    : sandbox_(sandbox),
      isolation_said_(sandbox.isolation().missing.size()),
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

Supervisor::Loop::~Loop() {
  terminal_.hold_flushes(false);
  slots_.clear();  // kills and reaps every worker still alive
  sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
}

RunResult Supervisor::Loop::run() {
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
  terminal_.hold_flushes(true);
  while (live_workers() > 0) {
    top_up_spares();
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
    flush_output(false);
  }
  flush_output(true);
  terminal_.hold_flushes(false);
  drop_spares();
  return finish();
}

// -- plumbing ---------------------------------------------------------------------------

void Supervisor::Loop::watch(int fd, uint32_t events, uint64_t data) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = data;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) throw_errno("epoll_ctl(ADD)");
}

void Supervisor::Loop::rewatch(int fd, uint32_t events, uint64_t data) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = data;
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event);
}

void Supervisor::Loop::unwatch(int fd) {
  if (fd >= 0) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

int Supervisor::Loop::live_workers() const {
  int count = 0;
  for (const Slot& slot : slots_) count += slot.worker != nullptr;
  return count;
}

void Supervisor::Loop::send(int index, const std::string& line) {
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
bool Supervisor::Loop::start_zygote() {
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
    case Outcome::Died:
      if (outcome.exit_code == kPytestUsageError) {  // every worker would say the same
        startup_failures_.push_back("the zygote " + outcome.reason);
        startup_exit_code_ = kPytestUsageError;
        fatal_ = true;
        return false;
      }
      // Spawned workers meet the same failure and report it as usual.
      zygote_fallback("the zygote ended before its collection: " + outcome.reason);
      return true;
    case Outcome::Refused:  // spawned workers collect and are compared, as without it
      zygote_fallback(outcome.reason);
      return true;
    case Outcome::Ready:
      break;
  }
  launch_.fork = [this](const sandbox::SpawnSpec& spec) { return fork_worker(spec); };
  launch_.request_fork = [this](const sandbox::SpawnSpec& spec) {
    if (!zygote_) throw UserError("the zygote has ended");
    return zygote_->request(spec);
  };
  for (auto& warning : outcome.warnings) {
    warnings_.push_back({std::move(warning.nodeid), std::move(warning.message)});
  }
  internal_errors_.insert(internal_errors_.end(), outcome.internal_errors.begin(),
                          outcome.internal_errors.end());
  reference_name_ = worker_name(launch_, 0);  // it collected with slot 0's environment
  adopt_collection(std::move(*outcome.collected));
  return scheduler_.has_value();
}

// A worker from the zygote; if that fails, from a spawn from now on (said once).
std::unique_ptr<sandbox::Child> Supervisor::Loop::fork_worker(const sandbox::SpawnSpec& spec) {
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

void Supervisor::Loop::zygote_fallback(const std::string& reason) {
  if (terminal_.quiet()) return;
  std::string line = reason.substr(0, reason.find('\n'));
  terminal_.line("bulkhead: workers are started on their own, not forked: " + line, "yellow");
}

// -- worker lifecycle --------------------------------------------------------------------

void Supervisor::Loop::start_worker(int index) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (zygote_ && !zygote_->alive()) {
    zygote_.reset();  // its workers (and spares) died with it; replacements are spawned
    drop_spares();
    zygote_fallback("the zygote ended during the run");
  }
  std::unique_ptr<WorkerProcess> spare = take_spare(index);
  const int incarnations = slot.incarnations;
  const uint32_t generation = slot.generation + 1;
  const uint32_t spare_serial = slot.spare_serial;
  slot = Slot();
  slot.incarnations = incarnations;
  slot.generation = generation;
  slot.spare_serial = spare_serial;
  try {
    slot.worker =
        spare ? std::move(spare)
              : std::make_unique<WorkerProcess>(sandbox_, launch_, index, slot.incarnations);
  } catch (const std::exception& error) {
    slot.worker.reset();
    slot.retired = true;
    startup_failures_.push_back(worker_name(launch_, index) + ": " + error.what());
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

void Supervisor::Loop::dispatch(const epoll_event& event) {
  const auto source = static_cast<Source>(event.data.u64 & 0xff);
  if (source == Source::Timer) {
    uint64_t expirations = 0;
    [[maybe_unused]] auto ignored = read(timer_fd_.get(), &expirations, sizeof expirations);
    return;
  }
  if (source == Source::Host) return host_.on_ready(host_handler_);
  if (source == Source::UserSignal || source == Source::Keys) return on_user(source);
  if (source == Source::Spare) {
    return spare_starting(static_cast<int>(event.data.u64 >> 40),
                          static_cast<uint32_t>((event.data.u64 >> 8) & 0xffffffff));
  }
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

void Supervisor::Loop::read_channel(int index, bool until_empty) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  WorkerProcess& worker = *slot.worker;
  const int fd = worker.channel_fd();
  try {
    const bool open = worker.read_channel(
        [&](std::string_view line) {
          if (slot.protocol_broken || line.empty()) return;
          try {
            protocol::Event event =
                slot.guard.accept(line, reference_ ? &reference_->items : nullptr);
            if (host_.running() && host_.wants(event)) host_.forward(index, slot.generation, line);
            handle_event(index, event);
          } catch (const protocol::ProtocolError& error) {
            protocol_failure(index, error.what());
          }
        },
        until_empty);
    if (!open) unwatch(fd);
  } catch (const protocol::ProtocolError& error) {
    protocol_failure(index, error.what());
  }
}

void Supervisor::Loop::protocol_failure(int index, const std::string& what) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (slot.protocol_broken) return;
  slot.protocol_broken = true;
  slot.protocol_error = "protocol error from " + slot.worker->name() + ": " + what;
  internal_errors_.push_back(slot.protocol_error);
  slot.worker->child().kill();
}

void Supervisor::Loop::read_output(int index, int stream) {
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

void Supervisor::Loop::handle_event(int index, protocol::Event event) {
  std::visit([&](auto& typed) { on(index, typed); }, event);
}

void Supervisor::Loop::on(int index, protocol::CollectedEvent& event) {
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

// This run's share of the agreed collection (a shard's tests) and their expected times.
WorkPlan Supervisor::Loop::plan_work() {
  WorkPlan plan;
  if (settings_.plan_work && !reference_->items.empty()) {
    plan = settings_.plan_work(reference_->items);
  }
  scheduled_total_ =
      plan.selected.empty()
          ? reference_->items.size()
          : static_cast<std::size_t>(std::count(plan.selected.begin(), plan.selected.end(), true));
  return plan;
}

void Supervisor::Loop::adopt_collection(protocol::CollectedEvent event) {
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
  collected_ = items.size();
  store_.reserve(items.size());
  counted_.assign(items.size(), false);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!plan.selected.empty() && !plan.selected[i]) counted_[i] = true;  // another shard's
  }
  if (settings_.observer) settings_.observer->collected(reference_->settings, items.size());
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
  scheduler_.emplace(settings_.dist, reference_->items, active_workers_, std::move(plan));
  if (settings_.isolate_units) scheduler_->one_unit_per_batch();
  // Slots beyond the test count are not needed; those still starting are told on collect.
  for (int i = active_workers_; i < settings_.workers; ++i) {
    slots_[static_cast<std::size_t>(i)].retired = true;
  }
}

bool Supervisor::Loop::same_collection(int index, const protocol::CollectedEvent& event) {
  mismatch_ = collection_difference(reference_->items, reference_worker_name(), event.items,
                                    worker_name(launch_, index));
  if (mismatch_.empty()) return true;
  exit_override_ = kExitCollectionMismatch;
  stop_everything();
  return false;
}

std::string Supervisor::Loop::reference_worker_name() const {
  return reference_name_.empty() ? worker_name(launch_, 0) : reference_name_;
}

void Supervisor::Loop::on(int index, protocol::StartEvent& event) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (!reference_ || event.index >= collected_) {
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
  TestRecord& record = live(event.index).record;
  record.worker = slot.worker->name();
  // Where it runs, known here exactly: this slot's current sandbox and its position there.
  record.sandbox = slot.incarnations - 1;
  record.seq = slot.started_tests++;
}

void Supervisor::Loop::set_limit(Slot& slot, std::optional<double> limit) {
  if (limit && *limit <= 0) limit.reset();  // 0 disables, as in pytest-timeout
  slot.running_limit_s = limit;
  slot.deadline.reset();
  if (limit) {
    slot.deadline =
        slot.running_since + std::chrono::duration_cast<Clock::duration>(Seconds(*limit));
  }
}

void Supervisor::Loop::on(int index, protocol::TimeoutEvent& event) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  // pytest-timeout's value counts only when neither the marker nor --timeout set one.
  if (slot.running != event.index || slot.marker_timeout_s || settings_.test_timeout_s) return;
  set_limit(slot, event.seconds);
}

void Supervisor::Loop::on(int index, protocol::ReportEvent& event) {
  if (!event.index || *event.index >= collected_) return;
  LiveTest& test = live(*event.index);
  TestRecord& record = test.record;
  PhaseReport& phase = event.report.phase;
  const bool counts_as_failure = phase.outcome == "failed" && phase.wasxfail.empty();
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (phase.outcome == "failed") note_pids_limit(slot, phase, event.report.display);
  record.worker = slot.worker->name();
  if (record.phases.empty()) {  // setup, call, teardown: one allocation each, not three
    record.phases.reserve(3);
    test.displays.reserve(3);
  }
  record.phases.push_back(std::move(event.report.phase));
  test.displays.push_back(std::move(event.report.display));
  settle(*event.index);  // a report after its test ended (the record was stored)
  if (counts_as_failure) count_failure();
}

// A test that failed after its sandbox refused forks at pids.max says so: the failure it
// shows (EAGAIN, "can't start new thread") rarely names the cause. One cgroup read, and only
// for failed phases.
void Supervisor::Loop::note_pids_limit(Slot& slot, PhaseReport& phase,
                                       protocol::PhaseDisplay& display) {
  const uint64_t hits = slot.worker->child().counters().pids_limit_hits;
  if (hits <= slot.pids_limit_hits) return;
  slot.pids_limit_hits = hits;
  add_pids_limit_note(phase, display.longrepr_color, sandbox_.profile().limits.pids.value_or(0),
                      hits);
}

void Supervisor::Loop::on(int index, protocol::FinishedEvent& event) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  if (event.index >= collected_) return;
  live(event.index).record.resources = std::move(event.resources);
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

void Supervisor::Loop::on(int, protocol::WarningEvent& event) {
  warnings_.push_back({std::move(event.nodeid), std::move(event.message)});
}

void Supervisor::Loop::on(int index, protocol::InternalErrorEvent& event) {
  internal_errors_.push_back(worker_name(launch_, index) + ": " + event.text);
}

void Supervisor::Loop::on(int index, protocol::NeedControllerEvent& event) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  const bool watched = host_.fd() >= 0;
  host_.need(index, slot.generation, event.reasons, event.wait, host_handler_);
  if (!watched && host_.fd() >= 0) watch(host_.fd(), EPOLLIN, tag(Source::Host));
}

void Supervisor::Loop::on(int, protocol::WorkerOutputEvent&) {}  // forwarded to the host session

void Supervisor::Loop::on(int index, protocol::DoneEvent&) {
  Slot& slot = slots_[static_cast<std::size_t>(index)];
  slot.done = true;
  slot.exit_by =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(settings_.exit_grace_s));
}

// -x / --maxfail, or the host session's pytest asked to stop (--sw): no more hand-outs,
// workers drop their queues, and what ran is reported.
void Supervisor::Loop::stop_handing_out(const std::string& reason) {
  if (stop_reason_.empty()) {
    stop_reason_ = reason;
    stopped_by_maxfail_ = true;
    if (scheduler_) scheduler_->stop();
    drop_spares();
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      Slot& slot = slots_[static_cast<std::size_t>(i)];
      if (!slot.worker) continue;
      send(i, protocol::encode_stop());
      slot.shutdown_sent = true;
      slot.retired = true;
    }
  }
}

// -- progress and stacks on demand (src/run/progress.h, stack_request.h) -------------------

// Running tests, longest-running first, with their slots.
std::vector<std::pair<int, RunningTest>> Supervisor::Loop::running_tests(
    Clock::time_point now) const {
  std::vector<std::pair<int, RunningTest>> running;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    const Slot& slot = slots_[static_cast<std::size_t>(i)];
    if (!slot.worker || !slot.running) continue;
    running.push_back({i,
                       {slot.worker->name(), reference_->items[*slot.running].nodeid,
                        Seconds(now - slot.running_since).count()}});
  }
  std::stable_sort(running.begin(), running.end(), [](const auto& a, const auto& b) {
    return a.second.elapsed_s > b.second.elapsed_s;
  });
  return running;
}

void Supervisor::Loop::refresh_progress() {
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

// What the terminal and the record buffered is written once a tick has passed since the last
// write (arm_timer wakes the loop for it), or at once when `now_anyway`.
void Supervisor::Loop::flush_output(bool now_anyway) {
  if (!terminal_.unflushed() && !records_unflushed_) return;
  const auto now = Clock::now();
  if (!now_anyway && now < output_flushed_ + kOutputTick) return;
  terminal_.flush();
  if (settings_.observer) settings_.observer->flush();
  records_unflushed_ = false;
  output_flushed_ = now;
}

std::optional<Clock::time_point> Supervisor::Loop::output_due() const {
  if (!terminal_.unflushed() && !records_unflushed_) return std::nullopt;
  return output_flushed_ + kOutputTick;
}

void Supervisor::Loop::on_user(Source source) {
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

auto Supervisor::Loop::asked_slot(const StackTarget& target) -> Slot* {
  Slot& slot = slots_[static_cast<std::size_t>(target.slot)];
  return slot.worker && slot.generation == target.generation ? &slot : nullptr;
}

void Supervisor::Loop::poll_stacks() {
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

Supervisor::Supervisor(sandbox::Sandbox& sandbox, WorkerLaunch launch, SupervisorSettings settings,
                       Terminal& terminal)
    : loop_(std::make_unique<Loop>(sandbox, std::move(launch), std::move(settings), terminal)) {}

Supervisor::~Supervisor() = default;

RunResult Supervisor::run() { return loop_->run(); }

}  // namespace bulkhead

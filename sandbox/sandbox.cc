// Sandbox and Child: the supervisor's side of starting a sandbox (cgroup leaf, clone3 into
// new namespaces, uid maps, cgroup attach, the "go" handshake, waiting for init's "ready")
// and of ending it (pidfd wait, status pipe, cgroup counters, cleanup).
#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "sandbox/bridges.h"
#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "sandbox/forked.h"
#include "sandbox/identity.h"
#include "sandbox/init.h"
#include "sandbox/mask.h"
#include "sandbox/mount.h"
#include "sandbox/namespaces.h"
#include "sandbox/net.h"
#include "sandbox/project_repo.h"
#include "sandbox/rlimits.h"
#include "sandbox/seccomp.h"
#include "sandbox/user.h"

namespace bulkhead::sandbox {
namespace {

std::string current_dir() {
  char buf[4096];
  if (::getcwd(buf, sizeof buf) == nullptr) throw_errno("getcwd");
  return buf;
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& entry : env) {
    if (entry.size() > key.size() && entry.compare(0, key.size(), key) == 0 &&
        entry[key.size()] == '=') {
      return entry.substr(key.size() + 1);
    }
  }
  return "";
}

// The installation of a command given by path: its directory, or the parent of a bin/ (an
// interpreter needs its lib/ too). Empty for a command looked up in PATH.
std::string command_home(const std::string& program) {
  if (program.empty() || program[0] != '/') return "";
  std::string dir = program.substr(0, program.rfind('/'));
  const size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0 && dir.substr(slash + 1) == "bin") {
    dir = dir.substr(0, slash);
  }
  return dir.empty() ? "/" : dir;
}

// Paths the payload must reach: its project, HOME, cwd, interpreter and plugin, the command.
std::vector<std::string> needed_paths(const std::string& cwd, const MountInputs& inputs) {
  std::vector<std::string> needed = {inputs.project_dir, inputs.home, cwd};
  needed.insert(needed.end(), inputs.visible_paths.begin(), inputs.visible_paths.end());
  return needed;
}

// Where the sandbox mounts its own view, so the host's permissions on the way there do not
// matter: its tmpfs, HOME and the project.
std::vector<std::string> covered_paths(const MountPolicy& policy, const MountInputs& inputs) {
  std::vector<std::string> covered = policy.tmpfs;
  covered.push_back(inputs.project_dir);
  if (!inputs.home.empty() && inputs.home != "/") covered.push_back(inputs.home);
  return covered;
}

// The host path of the pty among the payload's fds 0-2 (SpawnSpec::controlling_terminal).
std::string terminal_path(const SpawnSpec& spec) {
  for (int fd : {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd}) {
    if (fd < 0 || ::isatty(fd) != 1) continue;
    char name[128];
    if (::ttyname_r(fd, name, sizeof name) == 0) return name;
  }
  return "";
}

// Reads status lines until "R" (ready) or the pipe closes. Returns false when setup failed.
bool read_until_ready(int fd, std::string& buffer, std::vector<std::string>& warnings,
                      std::string& error) {
  for (;;) {
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (line == "R") return true;
      if (line.rfind("W ", 0) == 0) warnings.push_back(line.substr(2));
      if (line.rfind("E ", 0) == 0) error = line.substr(2);
    }
    char chunk[1024];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (error.empty()) error = "the sandbox's init exited during setup";
      return false;
    }
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

// A zygote's child's pid, as our pid namespace numbers it: the kernel translates the
// credentials of the byte its init sends (SO_PASSCRED on our end). 0 when the socket closed
// first (the child failed before it could say, or the zygote died).
pid_t receive_pid(int socket, const std::string& name) {
  struct pollfd ready = {socket, POLLIN, 0};
  int polled;
  do {
    polled = ::poll(&ready, 1, 60000);
  } while (polled < 0 && errno == EINTR);
  if (polled == 0) throw UserError("sandbox " + name + ": the zygote did not fork it within 60 s");
  char byte = 0;
  struct iovec data = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
  struct msghdr message = {};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      struct ucred creds;
      std::memcpy(&creds, CMSG_DATA(c), sizeof creds);
      return creds.pid;
    }
  }
  throw UserError("sandbox " + name + ": its init's handshake came without credentials");
}

// SpawnSpec::counter_fds' two descriptors of `leaf` (null: none), /dev/null where one is missing.
std::vector<UniqueFd> counter_fds_of(const LeafCgroup* leaf) {
  CounterFds counters;
  if (leaf) counters = leaf->open_counters();
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(counters.memory_peak));
  fds.push_back(std::move(counters.cpu_usage));
  for (UniqueFd& fd : fds) {
    if (fd) continue;
    fd = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open /dev/null");
  }
  return fds;
}

class PreparedCgroupImpl : public PreparedCgroup {
 public:
  explicit PreparedCgroupImpl(std::unique_ptr<LeafCgroup> leaf) : leaf(std::move(leaf)) {}
  std::vector<UniqueFd> counter_fds() const override { return counter_fds_of(leaf.get()); }
  std::unique_ptr<LeafCgroup> leaf;
};

class ChildImpl : public Child {
 public:
  // `adopted`: not our child (a zygote's), so waited for by its pidfd alone.
  ChildImpl(pid_t pid, UniqueFd pidfd, UniqueFd status_fd, std::string status_buffer,
            std::unique_ptr<LeafCgroup> leaf, const Limits& limits, bool own_pid_ns,
            bool adopted = false)
      : adopted_(adopted),
        pid_(pid),
        own_pid_ns_(own_pid_ns),
        pidfd_(std::move(pidfd)),
        status_fd_(std::move(status_fd)),
        status_buffer_(std::move(status_buffer)),
        leaf_(std::move(leaf)) {
    info_.memory_limit_bytes = limits.memory_bytes.value_or(0);
    info_.pids_limit = limits.pids.value_or(0);
  }
  ~ChildImpl() override {
    if (!waited_) {
      kill();
      wait();
    }
  }

  pid_t pid() const override { return pid_; }
  int pidfd() const override { return pidfd_.get(); }

  void signal(int sig) override {
    if (!waited_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0);
  }

  void kill() override {
    if (waited_) return;
    killed_ = true;
    // Killing the pid namespace's init makes the kernel kill everything in it; the cgroup
    // kill also covers a sandbox that had to run without a pid namespace.
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    // Without a pid namespace, init's session (it called setsid) is what we can still reach.
    if (!own_pid_ns_) ::kill(-pid_, SIGKILL);
    if (leaf_) leaf_->kill_all();
  }

  bool running() override {
    if (waited_) return false;
    if (adopted_) {
      struct pollfd ready = {pidfd_.get(), POLLIN, 0};
      return ::poll(&ready, 1, 0) == 0;
    }
    siginfo_t info = {};
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED | WNOHANG | WNOWAIT) !=
        0) {
      return false;
    }
    return info.si_pid == 0;
  }

  std::vector<UniqueFd> take_listeners() override { return std::move(listeners_); }

  int setup_fd() const override { return setting_up_ ? status_fd_.get() : -1; }

  bool setup_done(bool wait) override {
    while (setting_up_) {
      std::size_t newline;
      while (setting_up_ && (newline = status_buffer_.find('\n')) != std::string::npos) {
        const std::string line = status_buffer_.substr(0, newline);
        status_buffer_.erase(0, newline + 1);
        setting_up_ = line != "R";
        if (line.rfind("E ", 0) == 0) setup_error_ = line.substr(2);
      }
      if (!setting_up_) break;
      struct pollfd readable = {status_fd_.get(), POLLIN, 0};
      const int polled = ::poll(&readable, 1, wait ? -1 : 0);
      if (polled < 0 && errno == EINTR) continue;
      if (polled == 0) return false;
      char chunk[1024];
      const ssize_t n = ::read(status_fd_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        kill();
        throw UserError(
            "sandbox " + name_ + ": setup failed: " +
            (setup_error_.empty() ? "the sandbox's init exited during setup" : setup_error_));
      }
      status_buffer_.append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  // Adopted without waiting for init's "R" (Sandbox::adopt): setup_done() waits for it.
  void set_up_later(const std::string& name) {
    setting_up_ = true;
    name_ = name;
  }
  void set_listeners(std::vector<UniqueFd> listeners) { listeners_ = std::move(listeners); }

  LiveCounters counters() const override {
    LiveCounters live;
    if (!leaf_) return live;
    auto counters = leaf_->counters();
    live.oom_kills = counters.oom_kills;
    live.pids_limit_hits = counters.pids_limit_hits;
    live.memory_peak_bytes = counters.memory_peak_bytes;
    return live;
  }

  ExitInfo wait() override {
    if (waited_) return info_;
    siginfo_t init_status = {};
    if (adopted_) {
      // Its init's status goes to its parent, not to us: no "X" line means it was killed.
      struct pollfd ready = {pidfd_.get(), POLLIN, 0};
      while (::poll(&ready, 1, -1) < 0 && errno == EINTR) {
      }
      init_status.si_code = CLD_KILLED;
      init_status.si_status = SIGKILL;
    } else {
      while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &init_status, WEXITED) != 0) {
        if (errno != EINTR) break;
      }
    }
    waited_ = true;
    read_status_lines();
    if (!have_payload_status_ && info_.setup_error.empty()) {
      // Init itself was killed (by us, by the OOM killer, by the supervisor's death).
      if (init_status.si_code == CLD_EXITED) {
        info_.exited = true;
        info_.exit_code = init_status.si_status;
      } else {
        info_.signaled = true;
        info_.term_signal = init_status.si_status;
      }
    }
    info_.killed_by_us = killed_;
    if (leaf_) {
      leaf_->kill_all();
      auto counters = leaf_->counters();
      info_.oom_killed = counters.oom_kills > 0;
      info_.memory_peak_bytes = counters.memory_peak_bytes;
      info_.pids_limit_hit = counters.pids_limit_hits > 0;
      leaf_.reset();
    }
    return info_;
  }

 private:
  void read_status_lines() {
    char chunk[1024];
    for (;;) {
      ssize_t n = ::read(status_fd_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      status_buffer_.append(chunk, static_cast<size_t>(n));
    }
    std::istringstream lines(status_buffer_);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("X e ", 0) == 0) {
        info_.exited = true;
        info_.exit_code = std::atoi(line.c_str() + 4);
        have_payload_status_ = true;
      } else if (line.rfind("X s ", 0) == 0) {
        info_.signaled = true;
        info_.term_signal = std::atoi(line.c_str() + 4);
        have_payload_status_ = true;
      } else if (line.rfind("F ", 0) == 0) {
        info_.setup_error = line.substr(line.find(' ', 2) + 1);
        info_.exited = true;
        info_.exit_code = std::atoi(line.c_str() + 2);
        have_payload_status_ = true;
      } else if (line.rfind("E ", 0) == 0) {
        info_.setup_error = line.substr(2);
      }
    }
    status_fd_.reset();
  }

  bool adopted_;
  pid_t pid_;
  bool own_pid_ns_;
  UniqueFd pidfd_;
  UniqueFd status_fd_;
  std::string status_buffer_;
  std::unique_ptr<LeafCgroup> leaf_;
  ExitInfo info_;
  std::vector<UniqueFd> listeners_;
  bool waited_ = false;
  bool killed_ = false;
  bool have_payload_status_ = false;
  bool setting_up_ = false;  // its init has not said "R" yet
  std::string name_;         // for setup_done()'s error
  std::string setup_error_;
};

class SandboxImpl : public Sandbox {
 public:
  explicit SandboxImpl(SandboxOptions options) : options_(std::move(options)) {
    const Profile& profile = options_.profile;
    rootless_ = ::geteuid() != 0;
    userns_ = rootless_;
    isolation_.user_namespace = rootless_;
    for (const auto& kind : sandbox_namespaces()) ns_flags_ |= kind.flag;

    seccomp_ = compile_seccomp(profile.seccomp);
    keep_caps_ = resolve_capabilities(profile.keep_caps);
    identity_ = Identity::plan(profile.user, rootless_, isolation_.missing);
    {
      // The places a payload starts in; a run's workers start in the same project.
      const std::string cwd = current_dir();
      const char* home = std::getenv("HOME");
      identity_.require_idmapped_views({cwd, find_project_repository(cwd).root, home ? home : ""},
                                       isolation_.missing);
    }
    isolation_.identity = identity_.describe();
    if (identity_.payload().keeps_root_capabilities) {
      for (int cap : root_file_capabilities()) {
        if (std::find(keep_caps_.begin(), keep_caps_.end(), cap) == keep_caps_.end()) {
          keep_caps_.push_back(cap);
        }
      }
    }

    CgroupLayout layout = detect_cgroup_layout();
    isolation_.cgroup_mode = layout.mode();
    if (options_.use_cgroups) {
      cgroup_ = RunCgroup::create(layout, options_.run_id, profile.limits, isolation_.missing);
    } else {
      isolation_.missing.push_back(
          "cgroups: disabled by --no-cgroups; memory, cpu and pids "
          "limits are not enforced");
    }
    if (!cgroup_) isolation_.cgroup_mode = "none";
    isolation_.memory_limit = cgroup_ && cgroup_->has_memory();
    isolation_.cpu_limit = cgroup_ && cgroup_->has_cpu();
    isolation_.pids_limit = cgroup_ && cgroup_->has_pids();
    rlimits_ = plan_rlimits(profile.limits, !isolation_.memory_limit);
    if (!isolation_.memory_limit && profile.limits.memory_bytes) {
      isolation_.missing.push_back(
          "memory: no memory cgroup; the limit is applied as "
          "RLIMIT_AS instead and OOM kills cannot be told apart");
    }
    isolation_.overlay = profile.mounts.overlay_home || profile.mounts.overlay_project;
    // Where namespaces are likely refused (a seccomp filter on us, as in Docker; rootless
    // without user namespaces), find out now, so the run's header names what is missing.
    // Elsewhere the first clone3 is the probe.
    if (under_seccomp_filter() || (userns_ && probe_namespaces(0, true) != 0)) {
      drop_refused_namespaces();
    }
    refuse_if_degraded();
  }

  const Isolation& isolation() const override { return isolation_; }
  const Profile& profile() const override { return options_.profile; }

  std::unique_ptr<Child> spawn(const SpawnSpec& spec) override {
    if (spec.argv.empty()) throw UserError("spawn: empty command");
    const Profile& profile = options_.profile;
    std::unique_ptr<LeafCgroup> leaf;
    if (cgroup_) {
      leaf = cgroup_->create_leaf(spec.cgroup_name.empty() ? spec.name : spec.cgroup_name,
                                  profile.limits);
    }

    InitConfig config;
    config.name = spec.name;
    set_namespaces_and_cwd(spec, config);
    MountInputs inputs = mount_inputs(spec, config.cwd);
    inputs.zygote_spares = spec.zygote;
    if (spec.controlling_terminal) inputs.terminal = terminal_path(spec);
    config.mounts = build_mount_plan(profile.mounts, inputs);
    config.mount_context.idmap_userns_fd = identity_.idmap_userns_fd();
    config.mount_context.owner = identity_.sandbox_owner();
    config.mount_context.stage_size = tmpfs_size_for(profile.mounts, profile.limits.memory_bytes);
    config.mount_context.expose_overlays = spec.zygote;
    config.identity = identity_.payload();
    config.low_ports = identity_.wants_low_ports();
    add_listener_dirs(spec.listeners, config.mounts);
    config.argv = spec.argv;
    config.env = spec.env;
    UniqueFd dev_null;
    if (spec.stdin_fd < 0) {
      dev_null = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!dev_null) throw_errno("open /dev/null");
    }
    config.stdin_fd = spec.stdin_fd >= 0 ? spec.stdin_fd : dev_null.get();
    config.stdout_fd = spec.stdout_fd >= 0 ? spec.stdout_fd : 1;
    config.stderr_fd = spec.stderr_fd >= 0 ? spec.stderr_fd : 2;
    config.extra_fds = spec.extra_fds;
    std::vector<UniqueFd> counters;  // open until the clone has copied them
    if (spec.counter_fds) counters = counter_fds_of(leaf.get());
    for (const UniqueFd& fd : counters) config.extra_fds.push_back(fd.get());
    if (spec.extra_fds_base < 3) throw UserError("spawn: extra fds must start above 2");
    config.extra_fds_base = spec.extra_fds_base;
    config.controlling_terminal = spec.controlling_terminal;
    config.rlimits = rlimits_;
    config.keep_caps = keep_caps_;
    config.seccomp = &seccomp_;
    if (spec.zygote) {
      config.zygote = true;
      config.seccomp = &zygote_seccomp();
    }

    int sync_pipe[2], status_pipe[2];
    if (::pipe2(sync_pipe, O_CLOEXEC) != 0) throw_errno("pipe2(sync)");
    UniqueFd sync_read(sync_pipe[0]), sync_write(sync_pipe[1]);
    if (::pipe2(status_pipe, O_CLOEXEC) != 0) throw_errno("pipe2(status)");
    UniqueFd status_read(status_pipe[0]), status_write(status_pipe[1]);
    config.sync_fd = sync_read.get();
    config.status_fd = status_write.get();
    UniqueFd listener_read, listener_write;
    if (!spec.listeners.empty()) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        throw_errno("socketpair(listeners)");
      }
      listener_read.reset(pair[0]);
      listener_write.reset(pair[1]);
      config.listeners = spec.listeners;
      config.listener_fd = listener_write.get();
    }

    int pidfd = -1;
    bool placed = false;
    long pid = clone3_process(ns_flags_ | (userns_ ? CLONE_NEWUSER : 0), &pidfd,
                              leaf ? leaf->clone_into_fd() : -1, &placed);
    if (pid < 0 && (errno == EPERM || errno == EINVAL || errno == ENOSPC || errno == EACCES)) {
      // Only when the kernel refuses do we find out which namespace it refuses.
      drop_refused_namespaces();
      refuse_if_degraded();
      config.new_mount_ns = (ns_flags_ & CLONE_NEWNS) != 0;
      config.new_net_ns = (ns_flags_ & CLONE_NEWNET) != 0;
      config.new_uts_ns = (ns_flags_ & CLONE_NEWUTS) != 0;
      config.new_pid_ns = (ns_flags_ & CLONE_NEWPID) != 0;
      pid = clone3_process(ns_flags_ | (userns_ ? CLONE_NEWUSER : 0), &pidfd,
                           leaf ? leaf->clone_into_fd() : -1, &placed);
    }
    if (pid < 0) throw_errno("clone3(sandbox " + spec.name + ")");
    if (pid == 0) {
      sync_write.reset();
      status_read.reset();
      run_init(config);
    }
    UniqueFd child_pidfd(pidfd);
    sync_read.reset();
    status_write.reset();
    listener_write.reset();

    auto abandon = [&](const std::string& what) {
      ::syscall(SYS_pidfd_send_signal, child_pidfd.get(), SIGKILL, nullptr, 0);
      siginfo_t ignored;
      ::waitid(P_PIDFD, static_cast<id_t>(child_pidfd.get()), &ignored, WEXITED);
      throw UserError("sandbox " + spec.name + ": " + what);
    };
    try {
      if (userns_) write_identity_maps(static_cast<pid_t>(pid), ::getuid(), ::getgid());
      if (leaf) leaf->attach(static_cast<pid_t>(pid), placed);
    } catch (const std::exception& e) {
      abandon(e.what());
    }
    if (::write(sync_write.get(), "g", 1) != 1) abandon("cannot release the sandbox's init");
    sync_write.reset();

    std::string buffer, error;
    std::vector<std::string> warnings;
    bool ready = read_until_ready(status_read.get(), buffer, warnings, error);
    for (const auto& warning : warnings) note_missing(warning);
    if (!ready) abandon("setup failed: " + error);
    std::vector<UniqueFd> listeners;
    if (listener_read) {
      try {
        listeners = receive_listeners(listener_read.get(), spec.listeners.size());
      } catch (const std::exception& e) {
        abandon(e.what());
      }
    }
    auto child = std::make_unique<ChildImpl>(
        static_cast<pid_t>(pid), std::move(child_pidfd), std::move(status_read), std::move(buffer),
        std::move(leaf), profile.limits, (ns_flags_ & CLONE_NEWPID) != 0);
    child->set_listeners(std::move(listeners));
    return child;
  }

  std::string zygote_unavailable() const override {
    if (identity_.model() == IdentityModel::HostRootWithoutCapabilities) {
      return "the payload has no user namespace of its own (" + identity_.describe() +
             "), and a zygote needs one to make namespaces for its workers";
    }
    if (identity_.model() == IdentityModel::UnprivilegedInUserNamespace) {
      return "the profile's user is a uid, and a zygote's workers need root of the sandbox's "
             "user namespace to enter their sandboxes";
    }
    if (!options_.image_root.empty()) return "--image is not supported by the zygote yet";
    for (const auto& kind : sandbox_namespaces()) {
      if ((ns_flags_ & kind.flag) == 0) {
        return std::string("no ") + kind.name + " namespace here";
      }
    }
    if (options_.profile.seccomp.default_action != "allow") {
      return "the profile's seccomp default_action is not \"allow\"";
    }
    return "";
  }

  std::string forked_setup(const SpawnSpec& spec) override {
    ForkedSetup setup;
    InitConfig& config = setup.init;
    set_namespaces_and_cwd(spec, config);
    // The child builds its tree from the zygote's, which already has the bridges, the host's
    // sockets masked and the idmapped views: the same plan with those sources, run as the
    // root of the payload's user namespace.
    MountInputs inputs = mount_inputs(spec, config.cwd);
    inputs.bridges.clear();
    inputs.host_sockets.clear();
    inputs.idmap = false;
    config.mounts = build_mount_plan(options_.profile.mounts, inputs);
    for (MountRecord& record : config.mounts) {
      if (record.kind == MountKind::Bind) record.source = record.target;
    }
    add_listener_dirs(spec.listeners, config.mounts);
    config.listeners = spec.listeners;
    config.mount_context.stage_size =
        tmpfs_size_for(options_.profile.mounts, options_.profile.limits.memory_bytes);
    config.mount_context.mask_sources = kSpareMasks;
    config.mount_context.overlay_lowers = kSpareLowers;
    config.low_ports = identity_.wants_low_ports();
    config.sysctl_proc = kSpareProc;
    config.rlimits = rlimits_;
    config.keep_caps = keep_caps_;
    config.identity.keeps_root_capabilities = identity_.payload().keeps_root_capabilities;
    setup.seccomp = seccomp_;
    return setup.to_json();
  }

  std::unique_ptr<PreparedCgroup> prepare_cgroup(const std::string& name) override {
    std::unique_ptr<LeafCgroup> leaf;
    if (cgroup_) leaf = cgroup_->create_leaf(name, options_.profile.limits);
    return std::make_unique<PreparedCgroupImpl>(std::move(leaf));
  }

  std::unique_ptr<Child> adopt(const std::string& name, std::unique_ptr<PreparedCgroup> cgroup,
                               UniqueFd handshake, UniqueFd status, std::size_t listener_count,
                               bool wait_ready) override {
    const Profile& profile = options_.profile;
    if (!cgroup) cgroup = prepare_cgroup(name);
    std::unique_ptr<LeafCgroup> leaf = std::move(static_cast<PreparedCgroupImpl&>(*cgroup).leaf);
    const pid_t pid = receive_pid(handshake.get(), name);
    if (pid <= 0) {
      std::string buffer, error;
      std::vector<std::string> warnings;
      read_until_ready(status.get(), buffer, warnings, error);
      throw UserError("sandbox " + name + ": setup failed: " + error);
    }
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) throw_errno("pidfd_open(sandbox " + name + ")");
    auto abandon = [&](const std::string& what) {
      ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
      throw UserError("sandbox " + name + ": " + what);
    };
    try {
      if (leaf) leaf->attach(pid, false);  // born elsewhere: every group
    } catch (const std::exception& e) {
      abandon(e.what());
    }
    if (::send(handshake.get(), "g", 1, MSG_NOSIGNAL) != 1) abandon("cannot release its init");
    // Its init sends the listeners on the handshake socket, then closes it (also when it fails).
    std::vector<UniqueFd> listeners;
    if (listener_count > 0) {
      try {
        listeners = receive_listeners(handshake.get(), listener_count);
      } catch (const std::exception& e) {
        abandon(e.what());
      }
    }
    handshake.reset();
    std::string buffer, error;
    if (wait_ready) {
      std::vector<std::string> warnings;
      bool ready = read_until_ready(status.get(), buffer, warnings, error);
      for (const auto& warning : warnings) note_missing(warning);
      if (!ready) abandon("setup failed: " + error);
    }
    auto child =
        std::make_unique<ChildImpl>(pid, std::move(pidfd), std::move(status), std::move(buffer),
                                    std::move(leaf), profile.limits, true, true);
    child->set_listeners(std::move(listeners));
    if (!wait_ready) child->set_up_later(name);
    return child;
  }

 private:
  // The namespaces this host gives a sandbox, and the payload's working directory.
  void set_namespaces_and_cwd(const SpawnSpec& spec, InitConfig& config) const {
    config.new_mount_ns = (ns_flags_ & CLONE_NEWNS) != 0;
    config.new_net_ns = (ns_flags_ & CLONE_NEWNET) != 0;
    config.new_uts_ns = (ns_flags_ & CLONE_NEWUTS) != 0;
    config.new_pid_ns = (ns_flags_ & CLONE_NEWPID) != 0;
    config.cwd = spec.cwd.empty() ? current_dir() : spec.cwd;
  }

  MountInputs mount_inputs(const SpawnSpec& spec, const std::string& cwd) const {
    const Profile& profile = options_.profile;
    MountInputs inputs;
    inputs.home = env_value(spec.env, "HOME");
    inputs.project_dir = spec.project_dir.empty() ? cwd : spec.project_dir;
    // A project inside a git checkout: the checkout is the overlay, so git works from it.
    ProjectRepository repository = find_project_repository(inputs.project_dir);
    if (!repository.root.empty()) inputs.project_dir = repository.root;
    inputs.git_dirs = repository.git_dirs;
    inputs.visible_paths = spec.visible_paths;
    if (!spec.argv.empty()) {
      if (std::string home = command_home(spec.argv.front()); !home.empty() && home != "/") {
        inputs.visible_paths.push_back(home);
      }
    }
    inputs.memory_limit = profile.limits.memory_bytes;
    inputs.host_sockets = host_unix_socket_paths();
    inputs.idmap = identity_.idmap_userns_fd() >= 0;
    inputs.bridges = plan_bridges(needed_paths(cwd, inputs), covered_paths(profile.mounts, inputs),
                                  identity_.searcher());
    inputs.image_root = options_.image_root;
    return inputs;
  }

  // The zygote's filter: the profile's, but the calls its children make to set up their own
  // sandbox are allowed (each child then loads the full filter on top: filters stack).
  const SeccompProgram& zygote_seccomp() {
    if (zygote_seccomp_.instructions.empty()) {
      SeccompPolicy policy = options_.profile.seccomp;
      const std::vector<std::string> needed = {"mount",     "umount2",     "pivot_root",
                                               "unshare",   "sethostname", "mount_setattr",
                                               "open_tree", "move_mount"};
      std::erase_if(policy.deny, [&](const std::string& name) {
        return std::find(needed.begin(), needed.end(), name) != needed.end();
      });
      zygote_seccomp_ = compile_seccomp(policy);
    }
    return zygote_seccomp_;
  }

  void note_missing(const std::string& sentence) {
    for (const auto& known : isolation_.missing) {
      if (known == sentence) return;
    }
    isolation_.missing.push_back(sentence);
    if (sentence.rfind("overlay", 0) == 0) isolation_.overlay = false;
  }

  void refuse_if_degraded() const {
    if (!options_.require_isolation || isolation_.missing.empty()) return;
    std::string text = "isolation required but not available:";
    for (const auto& m : isolation_.missing) text += "\n  - " + m;
    throw UserError(text);
  }

  // Asks the kernel namespace by namespace which one it refuses; goes on without those,
  // saying so, one sentence per namespace. Rootless without a user namespace, none of the
  // others can be had either: each is named.
  void drop_refused_namespaces() {
    if (userns_) {
      int err = probe_namespaces(0, true);
      if (err != 0) {
        userns_ = false;
        isolation_.user_namespace = false;
        isolation_.missing.push_back(
            std::string("user namespace: refused to uid ") + std::to_string(::getuid()) + " (" +
            std::strerror(err) +
            "): unprivileged user namespaces are off here (sysctl "
            "user.max_user_namespaces or kernel.unprivileged_userns_clone, AppArmor "
            "kernel.apparmor_restrict_unprivileged_userns, or a seccomp filter); without one "
            "no other namespace can be created, so the sandbox runs in the host's");
      }
    }
    for (const auto& kind : sandbox_namespaces()) {
      if ((ns_flags_ & kind.flag) == 0) continue;
      int err = probe_namespaces(kind.flag, userns_);
      if (err == 0) continue;
      ns_flags_ &= ~kind.flag;
      isolation_.missing.push_back(std::string(kind.name) + " namespace: refused (" +
                                   std::strerror(err) + "); " + kind.without_it);
    }
  }

  SandboxOptions options_;
  bool rootless_ = false;
  bool userns_ = false;  // rootless through a user namespace (false when refused)
  unsigned long ns_flags_ = 0;
  Isolation isolation_;
  SeccompProgram seccomp_;
  SeccompProgram zygote_seccomp_;  // compiled when a zygote is first spawned
  std::vector<cap_value_t> keep_caps_;
  Identity identity_;
  std::vector<RlimitSetting> rlimits_;
  std::unique_ptr<RunCgroup> cgroup_;
};

}  // namespace

std::unique_ptr<Sandbox> Sandbox::create(SandboxOptions options) {
  return std::make_unique<SandboxImpl>(std::move(options));
}

}  // namespace bulkhead::sandbox

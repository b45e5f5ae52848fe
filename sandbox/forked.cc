// Sandboxes entered from a fork (owns sandbox/forked.h): the setup's JSON form and the four
// steps a zygote's child takes, each a part of init's checklist (init.h).
#include "sandbox/forked.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "sandbox/caps.h"
#include "sandbox/error.h"
#include "sandbox/net.h"

namespace bulkhead::sandbox {
namespace {

using json = nlohmann::json;

json mount_to_json(const MountRecord& r) {
  json out = {{"kind", static_cast<int>(r.kind)},
              {"target", r.target},
              {"source", r.source},
              {"read_only", r.read_only},
              {"skip_if_missing", r.skip_if_missing},
              {"idmap", r.idmap},
              {"sockets_only", r.sockets_only},
              {"mode", r.mode}};
  if (r.size_bytes) out["size"] = *r.size_bytes;
  return out;
}

MountRecord mount_from_json(const json& in) {
  MountRecord r{static_cast<MountKind>(in.at("kind").get<int>()),
                in.at("target").get<std::string>(),
                in.at("source").get<std::string>(),
                in.at("read_only").get<bool>(),
                std::nullopt,
                in.at("skip_if_missing").get<bool>(),
                in.at("idmap").get<bool>(),
                in.at("sockets_only").get<bool>(),
                in.at("mode").get<unsigned>()};
  if (in.contains("size")) r.size_bytes = in.at("size").get<uint64_t>();
  return r;
}

// Every fd above 2 but the ones listed is closed.
void close_all_but(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  int next = 3;
  for (int fd : keep) {
    if (fd < next) continue;
    if (fd > next) ::close_range(static_cast<unsigned>(next), static_cast<unsigned>(fd - 1), 0);
    next = fd + 1;
  }
  ::close_range(static_cast<unsigned>(next), ~0U, 0);
}

}  // namespace

std::string ForkedSetup::to_json() const {
  json mounts = json::array();
  for (const auto& record : init.mounts) mounts.push_back(mount_to_json(record));
  json rlimits = json::array();
  for (const auto& r : init.rlimits) rlimits.push_back({r.resource, r.value, r.name});
  json filter = json::array();
  for (const auto& i : seccomp.instructions) filter.push_back({i.code, i.jt, i.jf, i.k});
  json out = {
      {"new_mount_ns", init.new_mount_ns},
      {"new_net_ns", init.new_net_ns},
      {"new_uts_ns", init.new_uts_ns},
      {"new_pid_ns", init.new_pid_ns},
      {"mounts", mounts},
      {"low_ports", init.low_ports},
      {"sysctl_proc", init.sysctl_proc},
      {"cwd", init.cwd},
      {"rlimits", rlimits},
      {"keep_caps", init.keep_caps},
      {"keeps_root_capabilities", init.identity.keeps_root_capabilities},
      {"seccomp", filter},
  };
  json listeners = json::array();
  for (const auto& l : init.listeners) {
    listeners.push_back({l.unix_socket, l.address, l.port, l.optional});
  }
  out["listeners"] = listeners;
  if (init.mount_context.stage_size) out["stage_size"] = *init.mount_context.stage_size;
  out["mask_sources"] = init.mount_context.mask_sources;
  out["overlay_lowers"] = init.mount_context.overlay_lowers;
  return out.dump();
}

ForkedSetup ForkedSetup::from_json(const std::string& text) {
  ForkedSetup setup;
  try {
    const json in = json::parse(text);
    InitConfig& c = setup.init;
    c.new_mount_ns = in.at("new_mount_ns").get<bool>();
    c.new_net_ns = in.at("new_net_ns").get<bool>();
    c.new_uts_ns = in.at("new_uts_ns").get<bool>();
    c.new_pid_ns = in.at("new_pid_ns").get<bool>();
    for (const auto& record : in.at("mounts")) c.mounts.push_back(mount_from_json(record));
    if (in.contains("stage_size")) c.mount_context.stage_size = in["stage_size"].get<uint64_t>();
    c.mount_context.mask_sources = in.at("mask_sources").get<std::string>();
    c.mount_context.overlay_lowers = in.at("overlay_lowers").get<std::string>();
    c.low_ports = in.at("low_ports").get<bool>();
    c.sysctl_proc = in.at("sysctl_proc").get<std::string>();
    c.cwd = in.at("cwd").get<std::string>();
    for (const auto& r : in.at("rlimits")) {
      c.rlimits.push_back({r.at(0).get<int>(), r.at(1).get<rlim_t>(), r.at(2).get<std::string>()});
    }
    c.keep_caps = in.at("keep_caps").get<std::vector<cap_value_t>>();
    for (const auto& l : in.at("listeners")) {
      c.listeners.push_back({l.at(0).get<bool>(), l.at(1).get<std::string>(),
                             l.at(2).get<uint16_t>(), l.at(3).get<bool>()});
    }
    c.identity.keeps_root_capabilities = in.at("keeps_root_capabilities").get<bool>();
    for (const auto& i : in.at("seccomp")) {
      setup.seccomp.instructions.push_back({i.at(0).get<uint16_t>(), i.at(1).get<uint8_t>(),
                                            i.at(2).get<uint8_t>(), i.at(3).get<uint32_t>()});
    }
  } catch (const json::exception& e) {
    throw UserError(std::string("forked sandbox setup: ") + e.what());
  }
  return setup;
}

void forked_settle(const ForkedSetup& setup) {
  settle_forking_privileges(setup.init.keep_caps, setup.init.identity.keeps_root_capabilities);
}

void forked_unshare(const ForkedSetup& setup) {
  raise_permitted();
  const InitConfig& c = setup.init;
  const int flags = (c.new_mount_ns ? CLONE_NEWNS : 0) | (c.new_net_ns ? CLONE_NEWNET : 0) |
                    (c.new_uts_ns ? CLONE_NEWUTS : 0) | (c.new_pid_ns ? CLONE_NEWPID : 0) |
                    CLONE_NEWIPC;
  if (::unshare(flags) != 0) throw_errno("unshare(namespaces)");
}

int forked_init_begin(const ForkedSetup& setup, const std::string& name, int handshake_fd,
                      int status_fd) {
  InitConfig config = setup.init;
  config.name = name;
  config.status_fd = status_fd;
  std::vector<std::string> warnings;
  int signal_fd = -1;
  try {
    // 1. Who we are, for the supervisor's cgroup move and pidfd; then wait for its "go". Our
    // parent (A) has exited: we live as long as the zygote's pid namespace, not the supervisor.
    // A process group of our own, as run_init's.
    if (::setpgid(0, 0) != 0) throw_errno("setpgid");
    if (::send(handshake_fd, "p", 1, MSG_NOSIGNAL) != 1) throw_errno("send(handshake)");
    char go = 0;
    ssize_t n;
    do {
      n = ::recv(handshake_fd, &go, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n != 1 || go != 'g') ::_exit(125);  // the supervisor gave up on us
    // Now in our own cgroup: a cgroup namespace rooted there.
    if (::unshare(CLONE_NEWCGROUP) != 0) throw_errno("unshare(CLONE_NEWCGROUP)");
    set_up_inside(config, warnings);
    // Listeners for the supervisor's relay, on the handshake socket (as init.cc's step 4b);
    // its close is the end of them.
    hand_out_listeners(config.listeners, config.new_net_ns, config.new_mount_ns, handshake_fd);
    ::close(std::exchange(handshake_fd, -1));
    signal_fd = take_signals();
  } catch (const std::exception& e) {
    if (handshake_fd >= 0) ::close(handshake_fd);
    send_status(status_fd, std::string("E ") + e.what());
    ::_exit(125);
  }
  for (const auto& warning : warnings) send_status(status_fd, "W " + warning);
  return signal_fd;
}

void forked_init_serve(const ForkedSetup& setup, int status_fd, int signal_fd, pid_t payload) {
  close_all_but({status_fd, signal_fd});
  InitConfig config = setup.init;
  config.status_fd = status_fd;
  serve_payload(config, signal_fd, payload);
}

void forked_payload(const ForkedSetup& setup, const std::vector<int>& fds,
                    const std::vector<int>& targets, int status_fd) {
  if (fds.size() < 3 || fds.size() != targets.size() || targets[0] != 0 || targets[1] != 1 ||
      targets[2] != 2) {
    send_status(status_fd, "F 125 payload setup: fds must start with 0, 1, 2");
    ::_exit(125);
  }
  InitConfig config = setup.init;
  config.seccomp = &setup.seccomp;
  config.status_fd = status_fd;
  config.stdin_fd = fds[0];
  config.stdout_fd = fds[1];
  config.stderr_fd = fds[2];
  config.extra_fds.assign(fds.begin() + 3, fds.end());
  config.extra_targets.assign(targets.begin() + 3, targets.end());
  const int moved_status = prepare_payload(config, false);
  ::close(moved_status);  // no exec will close it
}

}  // namespace bulkhead::sandbox

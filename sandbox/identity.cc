// The payload's identity (owns sandbox/identity.h): the model decided per run, the user
// namespaces behind it, and the payload's switch into it.
#include "sandbox/identity.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/file_util.h"
#include "sandbox/mount_view.h"
#include "sandbox/namespaces.h"

namespace bulkhead::sandbox {
namespace {

// A user namespace with the given maps, kept alive by the returned fd: a child enters it at
// birth and waits while we write its maps (as root of the parent namespace we may map any
// range), then exits once we hold /proc/<child>/ns/user.
UniqueFd create_user_namespace(const std::string& uid_map, const std::string& gid_map) {
  int hold[2];
  if (::pipe2(hold, O_CLOEXEC) != 0) throw_errno("pipe2(user namespace)");
  UniqueFd hold_read(hold[0]), hold_write(hold[1]);
  long pid = clone3_process(CLONE_NEWUSER, nullptr, -1);
  if (pid < 0) throw_errno("clone3(CLONE_NEWUSER)");
  if (pid == 0) {
    ::close(hold[1]);
    char c;
    while (::read(hold[0], &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  hold_read.reset();
  const std::string proc = "/proc/" + std::to_string(pid);
  UniqueFd ns;
  int err = try_write_file(proc + "/uid_map", uid_map);
  const char* step = "uid_map";
  if (err == 0) {
    err = try_write_file(proc + "/gid_map", gid_map);
    step = "gid_map";
  }
  if (err == 0) {
    ns.reset(::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) err = errno;
    step = "ns/user";
  }
  hold_write.reset();
  int status = 0;
  while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  if (err != 0) throw SysError(std::string("user namespace ") + step, err);
  return ns;
}

std::string range_map(uint32_t inside, uint32_t outside, uint32_t count) {
  return fmt::format("{} {} {}\n", inside, outside, count);
}

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U  // Linux 5.8; glibc 2.36 lacks the name
#endif

// The type of the filesystem `path` is on, as /proc/self/mountinfo names it (statfs's magic
// would be the host's through 9p).
std::string filesystem_name(const std::string& path) {
  struct statx stx = {};
  if (::statx(AT_FDCWD, path.c_str(), 0, STATX_MNT_ID, &stx) != 0 || !(stx.stx_mask & STATX_MNT_ID))
    return "unknown filesystem";
  std::istringstream lines(try_read_file("/proc/self/mountinfo").value_or(""));
  std::string line;
  while (std::getline(lines, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos || std::strtoull(line.c_str(), nullptr, 10) != stx.stx_mnt_id)
      continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string type;
    rest >> type;
    return type;
  }
  return "unknown filesystem";
}

}  // namespace

std::optional<uint32_t> parse_subid_base(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t first = line.find(':');
    const size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos || line.substr(0, first) != "bulkhead") continue;
    try {
      const unsigned long long base = std::stoull(line.substr(first + 1, second - first - 1));
      const unsigned long long count = std::stoull(line.substr(second + 1));
      if (count >= kIdRangeCount && base > 0 && base + kIdRangeCount <= 0xFFFFFFFFull) {
        return static_cast<uint32_t>(base);
      }
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

Identity Identity::plan(const UserPolicy& policy, bool rootless,
                        std::vector<std::string>& missing) {
  Identity identity;
  if (rootless) {
    identity.model_ = IdentityModel::CallerMappedToItself;
    identity.payload_.uid = ::getuid();
    identity.payload_.gid = ::getgid();
    return identity;
  }
  identity.payload_.uid = 0;
  identity.payload_.gid = 0;
  if (policy.kind == UserPolicy::Kind::Host) {
    identity.model_ = IdentityModel::HostRootWithoutCapabilities;
    return identity;
  }
  const auto subuid = parse_subid_base(try_read_file("/etc/subuid").value_or(""));
  const auto subgid = parse_subid_base(try_read_file("/etc/subgid").value_or(""));
  if (subuid && subgid && *subuid == *subgid) identity.id_base_ = *subuid;
  const uint32_t base = identity.id_base_;
  try {
    identity.payload_userns_ =
        create_user_namespace(range_map(0, base, kIdRangeCount), range_map(0, base, kIdRangeCount));
    if (policy.kind == UserPolicy::Kind::Root) {
      identity.model_ = IdentityModel::RootInUserNamespace;
      identity.payload_.keeps_root_capabilities = true;
      // The same shift makes the project's and HOME's files appear with their host owners.
      identity.idmap_userns_.reset(::fcntl(identity.payload_userns_.get(), F_DUPFD_CLOEXEC, 3));
      if (!identity.idmap_userns_) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
    } else {
      identity.model_ = IdentityModel::UnprivilegedInUserNamespace;
      identity.payload_.uid = policy.uid;
      identity.payload_.gid = policy.uid;
      // The caller's (root's) files appear as the payload user's own.
      identity.idmap_userns_ = create_user_namespace(range_map(0, base + policy.uid, 1),
                                                     range_map(0, base + policy.uid, 1));
    }
    identity.payload_.userns_fd = identity.payload_userns_.get();
  } catch (const SysError& e) {
    identity.payload_userns_.reset();
    identity.idmap_userns_.reset();
    identity.model_ = IdentityModel::HostRootWithoutCapabilities;
    identity.payload_ = PayloadIdentity{};
    missing.push_back(std::string("user namespace: ") + e.what() +
                      "; the payload is the host's uid 0 without capabilities, so owner "
                      "permissions still let it read root-owned host files");
  }
  return identity;
}

void Identity::require_idmapped_views(const std::vector<std::string>& paths,
                                      std::vector<std::string>& missing) {
  if (model_ != IdentityModel::RootInUserNamespace) return;
  for (const std::string& path : paths) {
    if (path.empty() || path == "/") continue;  // never idmapped (sandbox/mount.cc)
    try {
      make_view(path, idmap_userns_.get(), false, true);  // detached; released on close
    } catch (const SysError& e) {
      if (e.code() == ENOENT || e.code() == ENOTDIR) continue;  // not a place we bind
      payload_userns_.reset();
      idmap_userns_.reset();
      model_ = IdentityModel::HostRootWithoutCapabilities;
      payload_ = PayloadIdentity{};
      missing.push_back("idmapped mounts: " + path + " (" + filesystem_name(path) +
                        ") refuses them (" + e.what() +
                        "); the payload is the host's uid 0 without capabilities, so owner "
                        "permissions still let it read root-owned host files");
      return;
    }
  }
}

std::optional<uint32_t> Identity::sandbox_owner() const {
  if (payload_userns_) return id_base_;
  return std::nullopt;
}

Searcher Identity::searcher() const {
  Searcher who;
  if (payload_userns_) {
    who.uid = id_base_ + payload_.uid;
    who.gids = {static_cast<gid_t>(id_base_ + payload_.gid)};
    return who;
  }
  who.uid = ::getuid();
  who.gids.resize(static_cast<size_t>(std::max(::getgroups(0, nullptr), 0)));
  who.gids.resize(static_cast<size_t>(
      std::max(::getgroups(static_cast<int>(who.gids.size()), who.gids.data()), 0)));
  who.gids.push_back(::getgid());
  return who;
}

std::string Identity::describe() const {
  const std::string range = fmt::format("uids and gids 0-65535 inside are host {}-{}", id_base_,
                                        id_base_ + kIdRangeCount - 1);
  switch (model_) {
    case IdentityModel::RootInUserNamespace:
      return "root in its own user namespace (" + range +
             "); root's file capabilities act on what the sandbox owns, host files show as "
             "nobody, the project and HOME as their host owners";
    case IdentityModel::UnprivilegedInUserNamespace:
      return fmt::format(
          "uid {} in its own user namespace ({}), no capabilities; the project "
          "and HOME appear as its own",
          payload_.uid, range);
    case IdentityModel::HostRootWithoutCapabilities:
      return "the host's uid 0 with every capability dropped (no user namespace); owner "
             "permissions give it root-owned host files";
    case IdentityModel::CallerMappedToItself:
      return fmt::format(
          "the caller (uid {}) mapped to itself in a user namespace, no "
          "capabilities",
          payload_.uid);
  }
  return "";
}

void enter_identity(const PayloadIdentity& identity) {
  if (identity.userns_fd < 0) return;
  if (::setns(identity.userns_fd, CLONE_NEWUSER) != 0) throw_errno("setns(user namespace)");
  const gid_t groups[] = {identity.gid};
  if (::setgroups(1, groups) != 0) throw_errno("setgroups");
  if (::setresgid(identity.gid, identity.gid, identity.gid) != 0) throw_errno("setresgid");
  if (::setresuid(identity.uid, identity.uid, identity.uid) != 0) throw_errno("setresuid");
}

const std::vector<int>& root_file_capabilities() {
  static const std::vector<int> caps = {
      CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,  CAP_FSETID,
      CAP_KILL,  CAP_SETGID,       CAP_SETUID,          CAP_SETPCAP, CAP_NET_BIND_SERVICE};
  return caps;
}

}  // namespace bulkhead::sandbox

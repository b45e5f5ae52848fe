// The payload's identity: which uid it is inside the sandbox, what its capabilities act on,
// and how files the host owns appear to it. Decided once per run (supervisor side), entered by
// each payload just before its capabilities are trimmed. The model, for a root caller:
//   user "root" (default): a user namespace created once per run maps inside uids/gids
//     0..65535 to an unused host range; the payload enters it as uid 0 and keeps root's file
//     capabilities. Capabilities in a user namespace act only on inodes whose owner is mapped:
//     the sandbox's own tmpfs and overlay uppers, and the project/HOME/bind views that are
//     idmapped through the same map; never on the host's files, which show as nobody. The other
//     namespaces stay owned by the host, so the payload cannot mount, configure the network or
//     set the hostname whatever its capabilities.
//   user N: the same namespace, uid and gid N inside, no capabilities; the project and HOME are
//     idmapped to appear as N's own.
//   user "host", or no user namespace available: the host's uid 0 with every capability
//     dropped (owner permissions still give it root-owned files: the model before this one).
// A rootless caller is mapped to itself in the user namespace that owns all the others
// (sandbox/user.h); its payload drops every capability.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/bridges.h"
#include "sandbox/fd.h"
#include "sandbox/profile.h"

namespace bulkhead::sandbox {

enum class IdentityModel {
  RootInUserNamespace,          // root caller, user "root"
  UnprivilegedInUserNamespace,  // root caller, user N
  HostRootWithoutCapabilities,  // root caller, user "host" or no user namespace
  CallerMappedToItself,         // rootless caller
};

// Host uids/gids [base, base + 65536) back the sandbox's user namespace. From the "bulkhead"
// entry of /etc/subuid and /etc/subgid when there is one, else 0x7FFF0000 (2147418112).
constexpr uint32_t kDefaultIdBase = 0x7FFF0000u;
constexpr uint32_t kIdRangeCount = 65536;

// "bulkhead:100000:65536" lines; nullopt when no usable entry for "bulkhead" (pure, tested).
std::optional<uint32_t> parse_subid_base(const std::string& text);

// What the payload needs to become itself; plain data, async-signal-safe to use after fork.
struct PayloadIdentity {
  int userns_fd = -1;  // setns target; -1: stay in the user namespace we are in
  uid_t uid = 0;       // inside, after setns
  gid_t gid = 0;
  bool keeps_root_capabilities = false;  // RootInUserNamespace
};

class Identity {
 public:
  // Decides the model and creates the user namespaces it needs (root callers). Sentences for
  // what could not be had go to `missing` (a refused user namespace falls back to the host's
  // uid 0 without capabilities).
  static Identity plan(const UserPolicy& policy, bool rootless, std::vector<std::string>& missing);

  // Root model only: checks that the filesystem of each path (the project, HOME) accepts an
  // idmapped view. One that refuses (tmpfs before Linux 6.3, 9p, NFS) would show the payload its
  // own files as nobody's, so the run falls back to the host's uid 0 without capabilities and
  // says why in `missing`.
  void require_idmapped_views(const std::vector<std::string>& paths,
                              std::vector<std::string>& missing);

  IdentityModel model() const { return model_; }
  const PayloadIdentity& payload() const { return payload_; }
  // The user namespace whose map makes host files appear as the payload's own (for idmapped
  // project, HOME and binds); -1 when files are shown as they are.
  int idmap_userns_fd() const { return idmap_userns_.get(); }
  // Owner of the sandbox's own tmpfs mounts (host ids); nullopt: the mounter.
  std::optional<uint32_t> sandbox_owner() const;
  // Real root may bind ports below 1024 and open ICMP sockets; so may the payload's root.
  bool wants_low_ports() const { return model_ == IdentityModel::RootInUserNamespace; }
  // The payload as the host's permission checks see it (for bridges).
  Searcher searcher() const;
  // "root in a user namespace: uid 0 inside is host uid 2147418112 (...)", for doctor and docs.
  std::string describe() const;

 private:
  IdentityModel model_ = IdentityModel::HostRootWithoutCapabilities;
  uint32_t id_base_ = kDefaultIdBase;
  PayloadIdentity payload_;
  UniqueFd payload_userns_;
  UniqueFd idmap_userns_;
};

// Payload side, after fork and before capabilities are trimmed: setns into the user namespace,
// then groups, gid, uid. Throws SysError.
void enter_identity(const PayloadIdentity& identity);

// Capabilities a root payload keeps in its own user namespace: what root needs over files and
// processes it owns (chown, DAC override and read-search, fowner, fsetid, kill, setuid, setgid,
// setpcap, net_bind_service); not sys_admin, sys_chroot, mknod, net_raw, setfcap and the rest.
const std::vector<int>& root_file_capabilities();

}  // namespace bulkhead::sandbox

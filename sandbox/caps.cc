// Capability dropping with libcap, securebits and no_new_privs.
#include "sandbox/caps.h"

#include <linux/securebits.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "sandbox/error.h"

namespace bulkhead::sandbox {

std::vector<cap_value_t> resolve_capabilities(const std::vector<std::string>& names) {
  std::vector<cap_value_t> caps;
  for (const auto& name : names) {
    cap_value_t value;
    if (cap_from_name(name.c_str(), &value) != 0) {
      throw UserError("unknown capability '" + name + "'");
    }
    caps.push_back(value);
  }
  return caps;
}

void drop_privileges(const std::vector<cap_value_t>& keep, bool root_semantics) {
  auto kept = [&](cap_value_t cap) {
    return std::find(keep.begin(), keep.end(), cap) != keep.end();
  };
  // Bounding set first: dropping from it needs CAP_SETPCAP, which we still have here, except
  // as a non-root user without a user namespace (user namespaces refused): such a process
  // holds no capability, and no_new_privs below keeps exec from granting any.
  for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (kept(cap) || cap_drop_bound(cap) == 0 || errno == EINVAL) continue;
    if (errno == EPERM && ::geteuid() != 0) break;
    throw_errno("cap_drop_bound(" + std::to_string(cap) + ")");
  }
  if (cap_reset_ambient() != 0 && errno != EINVAL) throw_errno("cap_reset_ambient");
  // uid 0 would regain every capability at exec; these bits switch that off for good. A root
  // payload in its own user namespace keeps root's rules instead: its exec'd programs get the
  // bounding set, as root's do. EPERM here means we are not uid 0 in our namespace and have no
  // CAP_SETPCAP: nothing to lock.
  if (!root_semantics &&
      ::prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED) !=
          0 &&
      errno != EPERM) {
    throw_errno("prctl(PR_SET_SECUREBITS)");
  }
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> caps(cap_init(), cap_free);
  if (!caps) throw_errno("cap_init");
  if (!keep.empty()) {
    for (cap_flag_t flag : {CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE}) {
      if (root_semantics && flag == CAP_INHERITABLE) continue;
      if (cap_set_flag(caps.get(), flag, static_cast<int>(keep.size()), keep.data(), CAP_SET) !=
          0) {
        throw_errno("cap_set_flag");
      }
    }
  }
  if (cap_set_proc(caps.get()) != 0) throw_errno("cap_set_proc");
  for (cap_value_t cap : keep) {
    if (!root_semantics && cap_set_ambient(cap, CAP_SET) != 0) throw_errno("cap_set_ambient");
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw_errno("prctl(PR_SET_NO_NEW_PRIVS)");
}

}  // namespace bulkhead::sandbox

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

const std::vector<cap_value_t>& forking_capabilities() {
  // CAP_DAC_OVERRIDE: a payload that is not uid 0 of its user namespace (rootless: the caller
  // mapped to itself) has its overlay mounts refused (EACCES) without it; uid 0 keeps root's.
  static const std::vector<cap_value_t> caps = {CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SETPCAP,
                                                CAP_DAC_OVERRIDE};
  return caps;
}

void raise_permitted() {
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> caps(cap_get_proc(), cap_free);
  if (!caps) throw_errno("cap_get_proc");
  for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    cap_flag_value_t permitted = CAP_CLEAR;
    if (cap_get_flag(caps.get(), cap, CAP_PERMITTED, &permitted) == 0 && permitted == CAP_SET &&
        cap_set_flag(caps.get(), CAP_EFFECTIVE, 1, &cap, CAP_SET) != 0) {
      throw_errno("cap_set_flag");
    }
  }
  if (cap_set_proc(caps.get()) != 0) throw_errno("cap_set_proc(raise permitted)");
}

namespace {

std::vector<cap_value_t> held_for_forking(const std::vector<cap_value_t>& keep) {
  std::vector<cap_value_t> held = keep;
  for (cap_value_t cap : forking_capabilities()) {
    if (std::find(held.begin(), held.end(), cap) == held.end()) held.push_back(cap);
  }
  return held;
}

// permitted = `permitted`, effective = `effective`, inheritable = `inheritable`; ambient =
// `ambient` exactly.
void set_capabilities(const std::vector<cap_value_t>& permitted,
                      const std::vector<cap_value_t>& effective,
                      const std::vector<cap_value_t>& inheritable,
                      const std::vector<cap_value_t>& ambient) {
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> caps(cap_init(), cap_free);
  if (!caps) throw_errno("cap_init");
  const std::pair<cap_flag_t, const std::vector<cap_value_t>*> sets[] = {
      {CAP_PERMITTED, &permitted}, {CAP_EFFECTIVE, &effective}, {CAP_INHERITABLE, &inheritable}};
  for (const auto& [flag, values] : sets) {
    if (!values->empty() && cap_set_flag(caps.get(), flag, static_cast<int>(values->size()),
                                         values->data(), CAP_SET) != 0) {
      throw_errno("cap_set_flag");
    }
  }
  if (cap_set_proc(caps.get()) != 0) throw_errno("cap_set_proc");
  if (cap_reset_ambient() != 0 && errno != EINVAL) throw_errno("cap_reset_ambient");
  for (cap_value_t cap : ambient) {
    if (cap_set_ambient(cap, CAP_SET) != 0) throw_errno("cap_set_ambient");
  }
}

}  // namespace

void keep_forking_privileges(const std::vector<cap_value_t>& keep, bool root_semantics) {
  const std::vector<cap_value_t> held = held_for_forking(keep);
  raise_permitted();  // a uid change (user N) left the effective set empty
  for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (std::find(held.begin(), held.end(), cap) == held.end() && cap_drop_bound(cap) != 0 &&
        errno != EINVAL) {
      throw_errno("cap_drop_bound(" + std::to_string(cap) + ")");
    }
  }
  if (!root_semantics && ::prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP) != 0) {
    throw_errno("prctl(PR_SET_SECUREBITS)");
  }
  // Root keeps its bounding set through exec; any other uid only what is ambient.
  const std::vector<cap_value_t> none;
  set_capabilities(held, held, root_semantics ? none : held, root_semantics ? none : held);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw_errno("prctl(PR_SET_NO_NEW_PRIVS)");
}

void settle_forking_privileges(const std::vector<cap_value_t>& keep, bool root_semantics) {
  const std::vector<cap_value_t> none;
  set_capabilities(held_for_forking(keep), keep, root_semantics ? none : keep,
                   root_semantics ? none : keep);
}

}  // namespace bulkhead::sandbox

// The seccomp filter: compiled once in the supervisor with libseccomp into a BPF program,
// loaded in each sandbox's payload after no_new_privs.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "sandbox/profile.h"

namespace bulkhead::sandbox {

struct SeccompProgram {
  std::vector<struct sock_filter> instructions;  // empty: no filter
};

// Throws UserError naming the syscall or action libseccomp refused.
SeccompProgram compile_seccomp(const SeccompPolicy& policy);

// prctl(PR_SET_SECCOMP) with the compiled program. Needs no_new_privs (or CAP_SYS_ADMIN).
// Async-signal-safe: no allocation. Returns errno, 0 on success.
int load_seccomp(const SeccompProgram& program);

}  // namespace bulkhead::sandbox

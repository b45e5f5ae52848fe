// Linux namespaces the sandbox uses: their clone flags, what is lost without each, and a
// probe that asks the kernel (clone3 of a child that exits at once) whether we may create them.
#pragma once

#include <string>
#include <vector>

namespace bulkhead::sandbox {

struct NamespaceKind {
  unsigned long flag;      // CLONE_NEWNET ...
  const char* name;        // "network"
  const char* without_it;  // "tests share the host's network and ports"
};

// mount, pid, network, uts, ipc, cgroup (user is handled separately).
const std::vector<NamespaceKind>& sandbox_namespaces();

// 0 when a child can be created with `flags` (plus CLONE_NEWUSER when `with_user_ns`), else
// the errno clone3 gave.
int probe_namespaces(unsigned long flags, bool with_user_ns);

// True when this process runs under a seccomp filter (/proc/self/status "Seccomp: 2"), as
// inside Docker: namespace creation may be refused, so it is probed before the first sandbox.
bool under_seccomp_filter();

// 0 when overlayfs can be mounted (tmpfs upper) inside a new user + mount namespace, as a
// rootless sandbox needs for its project and HOME overlays; else the errno that refused it.
int probe_overlay_in_user_namespace();

// Raw clone3; returns the child's pid in the parent and 0 in the child, -1 with errno.
// `pidfd_out` receives a pidfd when non-null; `cgroup_fd` >= 0 adds CLONE_INTO_CGROUP.
// Where clone3 answers ENOSYS (a seccomp filter such as Docker's default one, or a kernel
// before 5.3), falls back to clone(2), which cannot place the child in a cgroup:
// `placed_in_cgroup` (when non-null) says whether CLONE_INTO_CGROUP was applied.
long clone3_process(unsigned long flags, int* pidfd_out, int cgroup_fd,
                    bool* placed_in_cgroup = nullptr);

// "SIGSEGV" for 11; "signal 99" for unknown numbers.
std::string signal_name(int sig);

}  // namespace bulkhead::sandbox

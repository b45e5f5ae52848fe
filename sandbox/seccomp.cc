// seccomp: the profile's policy compiled with libseccomp (once per run), exported as BPF
// through a memfd, and loaded with a bare prctl in the payload. On x86_64 the filter also
// covers the i386 (`int 0x80`) and x32 ABIs, with the same rules by name.
#include "sandbox/seccomp.h"

#include <asm/ioctls.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "sandbox/error.h"
#include "sandbox/fd.h"

namespace bulkhead::sandbox {
namespace {

uint32_t action_for(const std::string& name, int err, const char* field) {
  if (name == "allow") return SCMP_ACT_ALLOW;
  if (name == "errno") return SCMP_ACT_ERRNO(static_cast<uint16_t>(err));
  if (name == "kill") return SCMP_ACT_KILL_PROCESS;
  if (name == "log") return SCMP_ACT_LOG;
  throw UserError(std::string("seccomp: ") + field + ": unknown action '" + name +
                  "' (expected allow, errno, kill or log)");
}

struct ContextDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};

// A 64-bit process can still enter the kernel through the 32-bit ABIs; a filter for the
// native one alone would kill it there (libseccomp's bad-arch action), so 32-bit programs
// could not run at all. Same rules on every ABI instead.
void add_compat_abis(scmp_filter_ctx ctx) {
  if (seccomp_arch_native() != SCMP_ARCH_X86_64) return;
  for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
    int rc = seccomp_arch_add(ctx, arch);
    if (rc != 0 && rc != -EEXIST) throw SysError("seccomp_arch_add", -rc);
  }
}

// Pushing bytes into a terminal's input queue (TIOCSTI) or a console's selection (TIOCLINUX)
// would let a payload type into the caller's shell (CVE-2017-5226). The kernel reads the
// request as 32 bits, so only those are compared: a set high bit must not slip past.
void deny_terminal_injection(scmp_filter_ctx ctx, uint32_t action) {
  for (unsigned long request :
       {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
    int rc = seccomp_rule_add(ctx, action, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFULL, request));
    if (rc != 0) throw SysError("seccomp_rule_add(ioctl)", -rc);
  }
}

}  // namespace

SeccompProgram compile_seccomp(const SeccompPolicy& policy) {
  uint32_t default_action = action_for(policy.default_action, policy.deny_errno, "default_action");
  uint32_t deny_action = action_for(policy.deny_action, policy.deny_errno, "deny_action");
  std::unique_ptr<void, ContextDeleter> ctx(seccomp_init(default_action));
  if (!ctx) throw UserError("seccomp: seccomp_init failed");
  add_compat_abis(ctx.get());
  for (const auto& name : policy.deny) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) throw UserError("seccomp: unknown syscall '" + name + "'");
    if (deny_action == default_action) continue;
    int rc = seccomp_rule_add(ctx.get(), deny_action, nr, 0);
    if (rc != 0) throw SysError("seccomp_rule_add(" + name + ")", -rc);
  }
  if (policy.deny_namespace_clone && deny_action != default_action) {
    // clone() creating namespaces is unshare() by another name. clone3 passes its flags in
    // memory BPF cannot read: answer ENOSYS so libc falls back to clone().
    int rc = 0;
    for (uint64_t bit : {uint64_t{CLONE_NEWNS}, uint64_t{CLONE_NEWUTS}, uint64_t{CLONE_NEWIPC},
                         uint64_t{CLONE_NEWUSER}, uint64_t{CLONE_NEWPID}, uint64_t{CLONE_NEWNET},
                         uint64_t{CLONE_NEWCGROUP}}) {
      rc = seccomp_rule_add(ctx.get(), deny_action, SCMP_SYS(clone), 1,
                            SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit));
      if (rc != 0) throw SysError("seccomp_rule_add(clone namespace flag)", -rc);
    }
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc != 0) throw SysError("seccomp_rule_add(clone3)", -rc);
  }
  if (deny_action != default_action) deny_terminal_injection(ctx.get(), deny_action);

  UniqueFd mem(::memfd_create("bulkhead-seccomp", MFD_CLOEXEC));
  if (!mem) throw_errno("memfd_create(seccomp)");
  int rc = seccomp_export_bpf(ctx.get(), mem.get());
  if (rc != 0) throw SysError("seccomp_export_bpf", -rc);
  struct stat st;
  if (::fstat(mem.get(), &st) != 0) throw_errno("fstat(seccomp memfd)");
  SeccompProgram program;
  program.instructions.resize(static_cast<size_t>(st.st_size) / sizeof(struct sock_filter));
  if (::pread(mem.get(), program.instructions.data(), static_cast<size_t>(st.st_size), 0) !=
      st.st_size) {
    throw_errno("read(seccomp memfd)");
  }
  return program;
}

int load_seccomp(const SeccompProgram& program) {
  if (program.instructions.empty()) return 0;
  struct sock_fprog prog = {};
  prog.len = static_cast<unsigned short>(program.instructions.size());
  prog.filter = const_cast<struct sock_filter*>(program.instructions.data());
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace bulkhead::sandbox

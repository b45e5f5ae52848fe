// Test helper: runs a command under a seccomp filter like Docker's default profile in what it
// does to namespaces (unshare, setns and clone with any CLONE_NEW* flag fail with EPERM,
// clone3 answers ENOSYS so callers fall back to clone, mount calls fail with EPERM), so
// bulkhead's degraded mode can be tested without Docker. The filter binds only this process
// and what it starts. Usage: docker_like_seccomp COMMAND [ARGS...]
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return 2;
  int rc = 0;
  for (const char* name : {"unshare", "setns", "mount", "umount2", "pivot_root", "fsopen",
                           "fsmount", "move_mount", "open_tree", "mount_setattr"}) {
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(name), 0);
  }
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // One rule per flag: clone fails when any CLONE_NEW* bit is set (x86_64: flags are arg 0).
  for (unsigned long flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID,
                             CLONE_NEWNET, CLONE_NEWCGROUP}) {
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
  if (rc != 0 || seccomp_load(ctx) != 0) {
    std::fprintf(stderr, "docker_like_seccomp: cannot load the filter\n");
    return 2;
  }
  seccomp_release(ctx);
  execvp(argv[1], argv + 1);
  std::fprintf(stderr, "docker_like_seccomp: exec %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}

// Escape attempt through the 32-bit system call ABIs of an x86_64 process: i386 through
// `int $0x80`, x32 through the 0x40000000 bit. A filter written for the native ABI alone would
// let these through under other numbers. Prints one JSON object: attempt -> errno name or "ok".
// Harmless if it worked: unshare(CLONE_NEWUSER) needs no privilege, mount gets NULL arguments.
// A kernel without IA-32 emulation answers `int $0x80` with SIGSEGV: that attempt is "no-abi".
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace {

long int80(long number, long a, long b, long c, long d, long e) {
  long result;
  asm volatile("int $0x80"
               : "=a"(result)
               : "a"(number), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
               : "memory");
  return result;
}

sigjmp_buf no_abi;  // a signal handler's only way back: this test program's one global

void on_segv(int) { siglongjmp(no_abi, 1); }

std::string outcome(long result);

// An i386 call, or "no-abi" when the kernel has no 32-bit entry (SIGSEGV on `int $0x80`).
std::string i386(long number, long a) {
  struct sigaction catcher = {};
  struct sigaction previous = {};
  catcher.sa_handler = on_segv;
  sigaction(SIGSEGV, &catcher, &previous);
  std::string result = "no-abi";
  if (sigsetjmp(no_abi, 1) == 0) result = outcome(int80(number, a, 0, 0, 0, 0));
  sigaction(SIGSEGV, &previous, nullptr);
  return result;
}

std::string outcome(long result) {
  if (result >= 0) return "ok";
  const char* name = strerrorname_np(static_cast<int>(-result));
  return name != nullptr ? name : std::to_string(-result);
}

}  // namespace

int main() {
  constexpr long kI386Mount = 21, kI386Unshare = 310;
  constexpr long kX32Bit = 0x40000000, kX32Mount = 165, kX32Unshare = 272;
  const std::string i386_unshare = i386(kI386Unshare, CLONE_NEWUSER);
  const std::string i386_mount = i386(kI386Mount, 0);
  errno = 0;
  long r = syscall(kX32Bit | kX32Unshare, CLONE_NEWUSER);
  const std::string x32_unshare = outcome(r < 0 ? -errno : r);
  errno = 0;
  r = syscall(kX32Bit | kX32Mount, 0, 0, 0, 0, 0);
  const std::string x32_mount = outcome(r < 0 ? -errno : r);
  std::printf(
      "{\"i386 unshare\": \"%s\", \"i386 mount\": \"%s\", \"x32 unshare\": \"%s\", "
      "\"x32 mount\": \"%s\"}\n",
      i386_unshare.c_str(), i386_mount.c_str(), x32_unshare.c_str(), x32_mount.c_str());
  return 0;
}

// Escape attempt through the 32-bit system call ABIs of an x86_64 process: i386 through
// `int $0x80`, x32 through the 0x40000000 bit. A filter written for the native ABI alone would
// let these through under other numbers. Prints one JSON object: attempt -> errno name or "ok".
// Harmless if it worked: unshare(CLONE_NEWUSER) needs no privilege, mount gets NULL arguments.
#include <errno.h>
#include <sched.h>
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

std::string outcome(long result) {
  if (result >= 0) return "ok";
  const char* name = strerrorname_np(static_cast<int>(-result));
  return name != nullptr ? name : std::to_string(-result);
}

}  // namespace

int main() {
  constexpr long kI386Mount = 21, kI386Unshare = 310;
  constexpr long kX32Bit = 0x40000000, kX32Mount = 165, kX32Unshare = 272;
  const std::string i386_unshare = outcome(int80(kI386Unshare, CLONE_NEWUSER, 0, 0, 0, 0));
  const std::string i386_mount = outcome(int80(kI386Mount, 0, 0, 0, 0, 0));
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

// Starting a helper process on the host in a process group of its own (setup commands, replay
// sub-runs): a terminal's ^C reaches only bulkhead, which decides when to stop it. Its signal
// mask is cleared and the signals bulkhead handles are at their defaults again; stdin is
// /dev/null, stdout and stderr go to files.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bulkhead {

struct HostSpawn {
  std::string path;               // the executable
  std::vector<std::string> argv;  // argv[0] included
  char* const* envp = nullptr;    // the environment (nullptr: ours)
  std::string cwd;                // "" keeps ours
  std::string stdout_path;        // opened for appending (it must exist)
  std::string stderr_path;        // the same path for one file
};

// posix_spawn of `spawn` in a new process group. Returns 0 and sets `pid`, or posix_spawn's
// error number.
int spawn_in_own_group(const HostSpawn& spawn, pid_t& pid);

}  // namespace bulkhead

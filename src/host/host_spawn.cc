// Host processes in their own process group; see host_spawn.h.
#include "src/host/host_spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

extern char** environ;

namespace bulkhead {

int spawn_in_own_group(const HostSpawn& spawn, pid_t& pid) {
  std::vector<std::string> words = spawn.argv;
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, spawn.stdout_path.c_str(), O_WRONLY | O_APPEND, 0);
  posix_spawn_file_actions_addopen(&files, 2, spawn.stderr_path.c_str(), O_WRONLY | O_APPEND, 0);
  if (!spawn.cwd.empty()) posix_spawn_file_actions_addchdir_np(&files, spawn.cwd.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const int error = ::posix_spawn(&pid, spawn.path.c_str(), &files, &attributes, argv.data(),
                                  spawn.envp != nullptr ? spawn.envp : environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attributes);
  return error;
}

}  // namespace bulkhead

// pytest on the host (see host_command.h).
#include "src/host/host_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/error.h"

extern char** environ;

namespace bulkhead {

int run_pytest_on_host(const std::string& python, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {python, "-m", "pytest"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork (pytest on the host)");
  if (pid == 0) {
    ::execve(python.c_str(), pointers.data(), environ);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("waitpid (pytest on the host)");
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace bulkhead

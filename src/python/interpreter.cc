// Finding the Python interpreter that has pytest (see python.h): one short probe per
// candidate, reading the facts as JSON from the interpreter itself.
#include "src/python/interpreter.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/fd.h"
#include "src/python/probe_cache.h"

extern char** environ;

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

constexpr int kProbeTimeoutMs = 15000;
constexpr std::size_t kProbeOutputLimit = 1 << 20;

// Prints the interpreter's facts as one JSON object. Versions come from the import system
// without importing pytest itself (importing costs ~150 ms).
constexpr const char* kProbeScript = R"PY(
import json, os, sys, importlib.util
site = sys.modules.get("site")
def version(module, dist):
    spec = importlib.util.find_spec(module)
    if spec is None:
        return ""
    # The distribution's metadata sits beside the package: read its name rather than have
    # importlib.metadata scan all of sys.path (~50 ms).
    site = os.path.dirname(os.path.dirname(spec.origin)) if spec.origin else ""
    if os.path.basename(spec.origin or "") != "__init__.py":
        site = os.path.dirname(spec.origin or "")
    prefix = dist.lower().replace("-", "_") + "-"
    try:
        for name in os.listdir(site):
            low = name.lower()
            if low.startswith(prefix) and low.endswith((".dist-info", ".egg-info")):
                return name[len(prefix):].rsplit(".", 1)[0].split("-")[0]
    except OSError:
        pass
    try:
        from importlib.metadata import version as v
        return v(dist)
    except Exception:
        return "unknown"
print(json.dumps({
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "prefix": sys.prefix,
    "path": [p for p in sys.path if p],
    "pytest": version("pytest", "pytest"),
    "xdist": version("xdist", "pytest-xdist"),
    "randomly": version("pytest_randomly", "pytest-randomly"),
    "user_site": site.getusersitepackages() if site else "",
}))
)PY";

// Runs argv with stdout captured; nullopt when it cannot start, times out or fails.
std::optional<std::string> run_capture(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) return std::nullopt;

  std::string output;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kProbeTimeoutMs);
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd poll_fd{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&poll_fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      break;
    }
    char buffer[8192];
    const ssize_t got = ::read(read_end.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    output.append(buffer, static_cast<std::size_t>(got));
    if (output.size() > kProbeOutputLimit) {
      timed_out = true;
      break;
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);  // our own child, by pid
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return output;
}

// sys.executable with symlinks resolved, except inside a virtualenv, whose python symlink
// must stay as it is for the venv to apply.
std::string resolve_executable(const std::string& executable) {
  std::error_code error;
  const fs::path path(executable);
  if (fs::exists(path.parent_path().parent_path() / "pyvenv.cfg", error)) return executable;
  const fs::path real = fs::canonical(path, error);
  return error ? executable : real.string();
}

// pyenv's shims are bash scripts that run `pyenv exec`: ~0.3 s a launch here. Resolve them as
// pyenv does (PYENV_VERSION, else .python-version from the cwd up, else $PYENV_ROOT/version)
// to the real interpreter; nullopt when the version is "system" or cannot be resolved.
std::optional<std::string> resolve_pyenv_shim(const std::string& candidate) {
  const fs::path shim(candidate);
  const fs::path shims_dir = shim.parent_path();
  if (shims_dir.filename() != "shims") return std::nullopt;
  const fs::path root = shims_dir.parent_path();
  std::error_code error;
  if (!fs::is_directory(root / "versions", error)) return std::nullopt;
  auto first_word = [](const std::string& text) {
    std::stringstream in(text);
    std::string word;
    while (in >> word) {
      if (!word.empty() && word[0] != '#') return word;
    }
    return std::string();
  };
  std::string version;
  if (const char* env = std::getenv("PYENV_VERSION"); env && *env) {
    version = std::string(env).substr(0, std::string(env).find(':'));
  } else {
    for (fs::path dir = fs::current_path(error); !dir.empty(); dir = dir.parent_path()) {
      std::ifstream file(dir / ".python-version");
      if (file) {
        version = first_word(std::string(std::istreambuf_iterator<char>(file), {}));
        break;
      }
      if (dir == dir.root_path()) break;
    }
    if (version.empty()) {
      std::ifstream file(root / "version");
      if (file) version = first_word(std::string(std::istreambuf_iterator<char>(file), {}));
    }
  }
  if (version.empty() || version == "system") return std::nullopt;
  const fs::path real = root / "versions" / version / "bin" / shim.filename();
  if (::access(real.c_str(), X_OK) != 0) return std::nullopt;
  return real.string();
}

}  // namespace

std::vector<std::string> python_candidates() {
  std::vector<std::string> out;
  auto add = [&out](const std::string& candidate) {
    if (std::find(out.begin(), out.end(), candidate) == out.end()) out.push_back(candidate);
  };
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      const std::string candidate = dir + "/python3";
      if (::access(candidate.c_str(), X_OK) == 0) add(candidate);
    }
  }
  add("/usr/bin/python3");
  return out;
}

namespace {

std::optional<PythonInfo> read_probe(const std::string& path,
                                     const std::optional<std::string>& output);

// The probe's JSON from the interpreter at `runnable`.
std::optional<std::string> run_probe(const std::string& runnable) {
  // Not isolated (-I): the workers see PYTHONPATH and the user site, so the probe must too.
  return run_capture({runnable, "-c", kProbeScript});
}

// One candidate's probe: the cache's answer when it still holds, else a fresh one (`fresh`
// says which).
struct Probe {
  std::string runnable;
  std::optional<std::string> output;
  bool fresh = false;
};

Probe probe_candidate(const std::string& path, const ProbeCache& cache) {
  Probe probe;
  probe.runnable = resolve_pyenv_shim(path).value_or(path);
  probe.output = cache.find(probe.runnable);
  if (!probe.output) {
    probe.output = run_probe(probe.runnable);
    probe.fresh = probe.output.has_value();
  }
  return probe;
}

}  // namespace

std::optional<PythonInfo> probe_python(const std::string& path) {
  return read_probe(path, run_probe(resolve_pyenv_shim(path).value_or(path)));
}

PythonInfo find_python_in_image(const std::string& image, const std::string& requested) {
  // The probe runs where the workers will: in a sandbox on the image (bulkhead exec).
  const std::string path = requested.empty() ? "/usr/bin/python3" : requested;
  auto info =
      read_probe(path, run_capture({"/proc/self/exe", "exec", "-q", "--no-cgroups", "--image",
                                    "dir:" + image, "--", path, "-c", kProbeScript}));
  if (!info) throw UserError("--image dir:" + image + ": " + path + " does not run in the image");
  if (!info->has_pytest()) {
    throw UserError("--image dir:" + image + ": " + path + " (Python " + info->version +
                    ") has no pytest in the image (images/README.md builds one that has)");
  }
  return *info;
}

namespace {

std::optional<PythonInfo> read_probe(const std::string& path,
                                     const std::optional<std::string>& output) {
  if (!output) return std::nullopt;
  auto facts = nlohmann::json::parse(*output, nullptr, false);
  if (facts.is_discarded() || !facts.is_object()) return std::nullopt;
  PythonInfo info;
  info.found_as = path;
  info.executable = resolve_executable(facts.value("executable", path));
  info.version = facts.value("version", "");
  info.prefix = facts.value("prefix", "");
  info.pytest_version = facts.value("pytest", "");
  info.xdist_version = facts.value("xdist", "");
  info.randomly_version = facts.value("randomly", "");
  if (facts.contains("path") && facts["path"].is_array()) {
    for (const auto& dir : facts["path"]) {
      if (dir.is_string()) info.path_dirs.push_back(dir.get<std::string>());
    }
  }
  return info;
}

}  // namespace

PythonInfo find_python(const std::string& requested) {
  std::vector<std::string> candidates =
      requested.empty() ? python_candidates() : std::vector<std::string>{requested};
  // Each probe starts an interpreter (~30-100 ms) unless the cache still holds its answer: run
  // them side by side, keep PATH order.
  ProbeCache cache(ProbeCache::default_file());
  std::vector<std::future<Probe>> probes;
  for (const std::string& candidate : candidates) {
    probes.push_back(std::async(std::launch::async, probe_candidate, candidate, std::cref(cache)));
  }
  std::vector<std::optional<PythonInfo>> infos;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    Probe probe = probes[i].get();
    if (probe.fresh) cache.store(probe.runnable, *probe.output);
    infos.push_back(read_probe(candidates[i], probe.output));
  }
  cache.save();
  std::string tried;
  std::optional<PythonInfo> chosen;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    auto& info = infos[i];
    if (chosen) continue;
    if (!info) {
      tried += "\n  " + candidates[i] + ": does not run";
      continue;
    }
    if (info->has_pytest()) {
      chosen = std::move(info);
      continue;
    }
    tried += "\n  " + candidates[i] + " (" + info->executable + ", Python " + info->version +
             "): pytest does not import";
  }
  if (chosen) return *chosen;
  if (!requested.empty()) {
    throw UserError("--python " + requested + ": no usable pytest:" + tried);
  }
  throw UserError("no Python with pytest found; give one with --python PATH. Tried:" + tried);
}

}  // namespace bulkhead

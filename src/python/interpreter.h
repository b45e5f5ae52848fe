// Finding the Python interpreter that has pytest: resolves pyenv shims and symlinks to the
// real executable once, so workers don't pay a shim's ~110 ms per launch.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bulkhead {

struct PythonInfo {
  std::string found_as;                // what was probed: "/root/.pyenv/shims/python3"
  std::string executable;              // sys.executable, symlinks resolved
  std::string version;                 // "3.11.2"
  std::string pytest_version;          // empty when pytest does not import
  std::string xdist_version;           // empty when xdist does not import
  std::string randomly_version;        // empty when pytest-randomly does not import
  std::string prefix;                  // sys.prefix
  std::vector<std::string> path_dirs;  // directories on sys.path (for mounts/diagnostics)
  bool has_pytest() const { return !pytest_version.empty(); }
};

// python3 entries on PATH in order, then /usr/bin/python3; duplicates removed.
std::vector<std::string> python_candidates();

// Runs `path` once to read its facts. nullopt when it does not run.
std::optional<PythonInfo> probe_python(const std::string& path);

// `requested` (from --python) when given, else the first candidate that imports pytest.
// Throws UserError naming what was tried and why each failed.
// The interpreter at `requested` (default /usr/bin/python3) inside the root filesystem
// `image`, probed in a sandbox on that image. Throws UserError when it has no pytest.
PythonInfo find_python_in_image(const std::string& image, const std::string& requested);
PythonInfo find_python(const std::string& requested);

}  // namespace bulkhead

// The project root of a working directory (project_root.h).
#include "src/cli/project_root.h"

#include <filesystem>

namespace bulkhead {

// Workers get it as their writable overlay, so caches and files written at the rootdir stay
// private to each worker; `bulkhead merge` writes pytest's cache there.
std::string project_root(const std::string& cwd) {
  namespace fs = std::filesystem;
  std::error_code ignored;
  for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
    for (const char* marker : {"pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", ".git"}) {
      if (fs::exists(dir / marker, ignored)) return dir == "/" ? cwd : dir.string();
    }
    if (dir == dir.root_path()) break;
  }
  return cwd;
}

}  // namespace bulkhead

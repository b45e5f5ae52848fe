// Finding the run records (record_location.h).
#include "src/cli/record_location.h"

#include <cstdlib>
#include <filesystem>

#include "src/cli/project_root.h"
#include "src/cli/run_options.h"
#include "src/record/run_record.h"

namespace bulkhead {

std::string find_runs_dir(const std::string& given, const std::string& cwd) {
  namespace fs = std::filesystem;
  RunOptions options;
  if (const char* dir = std::getenv("BULKHEAD_RECORD_DIR"); dir != nullptr && *dir) {
    options.record_dir = dir;
  }
  if (std::string config = find_pyproject(cwd); !config.empty()) apply_pyproject(config, options);
  if (!given.empty()) options.record_dir = given;
  if (!options.record_dir.empty()) {
    return (fs::path(cwd) / options.record_dir).lexically_normal().string();
  }
  std::error_code error;
  for (fs::path dir = cwd; !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / ".bulkhead" / "runs", error)) {
      return (dir / ".bulkhead" / "runs").string();
    }
    if (dir == dir.root_path()) break;
  }
  return record::runs_dir(project_root(cwd));
}

}  // namespace bulkhead

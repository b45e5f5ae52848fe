// Write-through paths (see write_through.h).
#include "src/host/write_through.h"

#include <filesystem>
#include <system_error>

namespace bulkhead {

namespace fs = std::filesystem;

WriteThrough::WriteThrough(const std::string& project_dir,
                           const std::vector<std::string>& if_present,
                           const std::vector<std::string>& named) {
  for (const std::string& relative : named) add(project_dir, relative, true);
  for (const std::string& relative : if_present) add(project_dir, relative, false);
}

void WriteThrough::add(const std::string& project_dir, const std::string& relative, bool create) {
  const fs::path path = (fs::path(project_dir) / relative).lexically_normal();
  const std::string absolute = path.string();
  for (const auto& bind : binds_) {
    if (bind.source == absolute) return;
  }
  std::error_code error;
  if (!fs::exists(path, error)) {
    if (!create) return;
    // Create it (and its missing parents), remembering what was ours to remove later.
    std::vector<fs::path> missing;
    for (fs::path dir = path; !dir.empty() && !fs::exists(dir, error); dir = dir.parent_path()) {
      missing.push_back(dir);
      if (dir == dir.root_path()) break;
    }
    fs::create_directories(path, error);
    if (error) {
      problems_.push_back("write-through " + relative + ": cannot create " + absolute + " (" +
                          error.message() + "); writes there stay in each worker");
      return;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) created_.push_back(*it);
  }
  binds_.push_back({absolute, absolute, false});
}

WriteThrough::~WriteThrough() {
  std::error_code ignored;
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    if (fs::is_directory(*it, ignored) && fs::is_empty(*it, ignored)) fs::remove(*it, ignored);
  }
}

}  // namespace bulkhead

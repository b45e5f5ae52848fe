// The project's repository (owns sandbox/project_repo.h).
#include "sandbox/project_repo.h"

#include <filesystem>

#include "sandbox/bridges.h"
#include "sandbox/file_util.h"

namespace bulkhead::sandbox {

namespace fs = std::filesystem;

ProjectRepository find_project_repository(const std::string& project_dir) {
  ProjectRepository repo;
  std::error_code ec;
  fs::path root = fs::path(project_dir).lexically_normal();
  if (root.is_relative()) return repo;
  while (!fs::exists(root / ".git", ec)) {
    if (root == root.root_path()) return repo;
    root = root.parent_path();
  }
  if (root == root.root_path()) return repo;
  repo.root = root.string();
  const fs::path dot_git = root / ".git";
  if (!fs::is_regular_file(dot_git, ec)) return repo;
  // A worktree or submodule: "gitdir: <path>", and in that directory "commondir" (relative).
  const std::string line = read_first_line(dot_git.string());
  if (line.rfind("gitdir: ", 0) != 0) return repo;
  fs::path gitdir = fs::path(line.substr(8));
  if (gitdir.is_relative()) gitdir = root / gitdir;
  std::vector<std::string> dirs = {gitdir.string()};
  if (const std::string common = read_first_line((gitdir / "commondir").string());
      !common.empty()) {
    const fs::path common_dir(common);
    dirs.push_back((common_dir.is_relative() ? gitdir / common_dir : common_dir).string());
  }
  for (auto& dir : dirs) {
    dir = fs::path(dir).lexically_normal().string();
    if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  }
  for (const auto& dir : dirs) {  // one view for a directory inside another
    bool covered = is_within(dir, repo.root) || !fs::is_directory(dir, ec);
    for (const auto& other : dirs) covered = covered || (other != dir && is_within(dir, other));
    if (!covered) repo.git_dirs.push_back(dir);
  }
  return repo;
}

}  // namespace bulkhead::sandbox

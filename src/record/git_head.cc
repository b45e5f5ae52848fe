// HEAD of a checkout, read from .git's files: HEAD, the ref it names, packed-refs.
#include "src/record/git_head.h"

#include <filesystem>
#include <fstream>

#include "sandbox/file_util.h"
#include "sandbox/project_repo.h"

namespace bulkhead::record {
namespace {

namespace fs = std::filesystem;

bool is_commit(const std::string& text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string git_head_commit(const std::string& dir) {
  const sandbox::ProjectRepository repo = sandbox::find_project_repository(dir);
  if (repo.root.empty()) return "";
  fs::path gitdir = fs::path(repo.root) / ".git";
  std::error_code error;
  if (fs::is_regular_file(gitdir, error)) {  // a worktree or submodule: "gitdir: <path>"
    const std::string line = read_first_line(gitdir);
    if (line.rfind("gitdir: ", 0) != 0) return "";
    fs::path target = line.substr(8);
    gitdir = target.is_relative() ? fs::path(repo.root) / target : target;
  }
  fs::path common = gitdir;
  if (const std::string line = read_first_line(gitdir / "commondir"); !line.empty()) {
    common = fs::path(line).is_relative() ? gitdir / line : fs::path(line);
  }
  std::string head = read_first_line(gitdir / "HEAD");
  for (int depth = 0; depth < 5 && head.rfind("ref: ", 0) == 0; ++depth) {
    const std::string ref = head.substr(5);
    head = read_first_line(gitdir / ref);
    if (head.empty()) head = read_first_line(common / ref);
    if (!head.empty()) continue;
    std::ifstream packed(common / "packed-refs");
    for (std::string line; std::getline(packed, line);) {
      if (line.size() > 41 && line[40] == ' ' && line.substr(41) == ref) head = line.substr(0, 40);
    }
  }
  return is_commit(head) ? head : "";
}

}  // namespace bulkhead::record

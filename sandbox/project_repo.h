// The project's repository. When pytest's rootdir is a subdirectory of a git checkout, git run
// by a test walks up to the checkout's root; an overlay on the subdirectory alone would stop it
// at the mount boundary ("not a git repository ... filesystem boundary"), so the overlay goes
// on the checkout's root instead. A worktree's or submodule's git directories outside it get
// read-only views, idmapped as root like the project, since git refuses a repository whose
// directories are not owned by the current user ("dubious ownership").
#pragma once

#include <string>
#include <vector>

namespace bulkhead::sandbox {

struct ProjectRepository {
  std::string root;                   // the checkout holding the project; "" if none
  std::vector<std::string> git_dirs;  // a `.git` file's gitdir and commondir outside `root`
};

// Looks for `.git` in `project_dir` and its ancestors (not "/" itself).
ProjectRepository find_project_repository(const std::string& project_dir);

}  // namespace bulkhead::sandbox

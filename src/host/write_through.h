// Write-through paths: project paths whose writes reach the host, as read-write binds over the
// worker's project overlay (profile `mounts.write_through`, `--write-through`, pyproject). A
// path named on the command line or in pyproject.toml that is missing is created as a directory
// before the run and removed after it if it is still empty, so a path nobody wrote to leaves no
// trace. A profile's path is bound only when it exists: the default profile's `.hypothesis`
// would otherwise appear, as a mount point, in every project (see docs/fidelity.md).
#pragma once

#include <string>
#include <vector>

#include "sandbox/profile.h"

namespace bulkhead {

class WriteThrough {
 public:
  // Paths are relative to `project_dir` (validated by sandbox::write_through_problem):
  // `if_present` are bound when they exist, `named` are created when missing.
  WriteThrough(const std::string& project_dir, const std::vector<std::string>& if_present,
               const std::vector<std::string>& named);
  ~WriteThrough();  // removes the directories it created that are still empty
  WriteThrough(const WriteThrough&) = delete;
  WriteThrough& operator=(const WriteThrough&) = delete;

  const std::vector<sandbox::BindMount>& binds() const { return binds_; }
  // Paths that could be neither found nor created: one sentence each, for the header.
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<sandbox::BindMount> binds_;
  std::vector<std::string> created_;  // outermost first
  std::vector<std::string> problems_;

  void add(const std::string& project_dir, const std::string& relative, bool create);
};

}  // namespace bulkhead

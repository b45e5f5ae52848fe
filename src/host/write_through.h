// Write-through paths: project paths whose writes reach the host, as read-write binds over the
// worker's project overlay (profile `mounts.write_through`, `--write-through`, pyproject). A
// missing path is created as a directory before the run and removed after it if it is still
// empty, so a path nobody wrote to leaves no trace.
#pragma once

#include <string>
#include <vector>

#include "sandbox/profile.h"

namespace bulkhead {

class WriteThrough {
 public:
  // `paths` are relative to `project_dir` (validated by sandbox::write_through_problem).
  WriteThrough(const std::string& project_dir, const std::vector<std::string>& paths);
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
};

}  // namespace bulkhead

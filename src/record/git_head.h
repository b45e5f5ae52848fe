// The commit a git checkout has checked out, read from its files (no git process): for the
// run record, so a repro on another checkout can say when the code differs.
#pragma once

#include <string>

namespace bulkhead::record {

// The 40-hex commit of HEAD of the checkout holding `dir` (worktrees and packed refs
// included); "" when `dir` is in no checkout or HEAD cannot be resolved (an unborn branch).
std::string git_head_commit(const std::string& dir);

}  // namespace bulkhead::record

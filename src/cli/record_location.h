// Where `bulkhead runs`, `show` (and `repro`, `bisect`) find the run records: the same places
// `bulkhead run` writes them.
#pragma once

#include <string>

namespace bulkhead {

// `given` (--record-dir) when set; else BULKHEAD_RECORD_DIR or `record_dir` of the pyproject.toml
// that configures `cwd` (as `run` takes them); else the nearest `.bulkhead/runs` from `cwd` up;
// else <project root of cwd>/.bulkhead/runs. Relative paths are from `cwd`. Throws UserError
// for a bad pyproject.toml.
std::string find_runs_dir(const std::string& given, const std::string& cwd);

}  // namespace bulkhead

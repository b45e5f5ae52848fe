// Where the project of a working directory is: its root as pytest would likely find its rootdir.
#pragma once

#include <string>

namespace bulkhead {

// The nearest directory at or above `cwd` holding a pytest config or VCS marker (pytest.ini,
// pyproject.toml, tox.ini, setup.cfg, .git); else `cwd`.
std::string project_root(const std::string& cwd);

}  // namespace bulkhead

// Where bulkhead's data files live: share/bulkhead next to the binary (build and install trees
// have the same shape), overridable with BULKHEAD_DATA_DIR.
#pragma once

#include <string>

namespace bulkhead {

// The running binary's directory, from /proc/self/exe. Throws SysError.
std::string executable_dir();

// $BULKHEAD_DATA_DIR when set, else <exe_dir>/../share/bulkhead (normalised).
std::string data_dir();

// <data_dir>/python: the directory holding bulkhead_worker.py (put on the workers' PYTHONPATH).
std::string worker_plugin_dir();

// <data_dir>/lib/libbulkhead_zygote.so: the zygote's sandbox steps (sandbox/forked.h).
std::string zygote_library_path();

// <data_dir>/profiles.
std::string profiles_dir();

}  // namespace bulkhead

// Locating share/bulkhead relative to the running binary (see paths.h).
#include "src/cli/paths.h"

#include <cstdlib>
#include <filesystem>

#include "sandbox/error.h"

namespace bulkhead {

std::string executable_dir() {
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw SysError("readlink(/proc/self/exe)", error.value());
  return exe.parent_path().string();
}

std::string data_dir() {
  if (const char* override_dir = std::getenv("BULKHEAD_DATA_DIR"); override_dir && *override_dir) {
    return override_dir;
  }
  return (std::filesystem::path(executable_dir()) / ".." / "share" / "bulkhead")
      .lexically_normal()
      .string();
}

std::string worker_plugin_dir() { return data_dir() + "/python"; }

std::string zygote_library_path() { return data_dir() + "/lib/libbulkhead_zygote.so"; }

std::string profiles_dir() { return data_dir() + "/profiles"; }

}  // namespace bulkhead

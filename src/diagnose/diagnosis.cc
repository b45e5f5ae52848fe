// Shared parts of repro and bisect; see diagnosis.h.
#include "src/diagnose/diagnosis.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sandbox/error.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

// The test's node id as a file name: unsafe characters as '_', cut, and a hash of the whole.
std::string file_name_of(const std::string& nodeid) {
  std::string name;
  for (char c : nodeid) {
    const bool safe = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    name += safe ? c : '_';
  }
  if (name.size() > 80) name = name.substr(name.size() - 80);
  uint32_t hash = 2166136261u;  // FNV-1a: stable across builds
  for (char c : nodeid) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%08x", hash);
  return name + suffix;
}

}  // namespace

std::string describe_recorded(const Diagnosis& diagnosis) {
  const std::size_t before = diagnosis.predecessors.size();
  std::string text = diagnosis.recorded_outcome;
  if (!diagnosis.recorded_cause.empty()) text += " (" + diagnosis.recorded_cause + ")";
  return text + " in run " + diagnosis.run_id + " (worker " + diagnosis.target.worker +
         ", sandbox " + std::to_string(diagnosis.sandbox) + ", after " + std::to_string(before) +
         (before == 1 ? " test" : " tests") + ")";
}

std::string keep_list(const Diagnosis& diagnosis, const std::string& kind,
                      const std::vector<std::string>& nodeids) {
  std::error_code error;
  fs::create_directories(diagnosis.lists_dir, error);
  if (error) throw SysError("mkdir " + diagnosis.lists_dir, error.value());
  const std::string path =
      diagnosis.lists_dir + "/" + kind + "-" + file_name_of(diagnosis.target.nodeid) + ".txt";
  std::ofstream list(path);
  list << "# bulkhead " << kind << " of " << diagnosis.target.nodeid << " (run " << diagnosis.run_id
       << ", " << diagnosis.target.worker << ")\n";
  for (const std::string& nodeid : nodeids) list << nodeid << '\n';
  if (!list.flush()) throw UserError("cannot write the replay list " + path);
  return path;
}

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/bulkhead-diagnose-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp " + pattern);
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::string self_executable() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) throw SysError("readlink /proc/self/exe", error.value());
  return self.string();
}

}  // namespace bulkhead

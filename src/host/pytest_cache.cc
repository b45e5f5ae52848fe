// Writing pytest's cache entries after a run (see pytest_cache.h).
#include "src/host/pytest_cache.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "src/report/outcome.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

// The cache directory tag's first line is fixed by the spec (https://bford.info/cachedir/):
// backup and archiving tools skip directories holding it.
constexpr const char* kCacheDirTag =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by bulkhead for pytest.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n";
constexpr const char* kReadme =
    "# pytest cache directory #\n\n"
    "Written by pytest (here by bulkhead, which runs pytest's workers in sandboxes): it keeps\n"
    "the state behind `--lf`, `--ff`, `--nf` and `--sw`. Do not commit it.\n";

nlohmann::json read_value(const fs::path& path, nlohmann::json fallback) {
  std::ifstream file(path);
  if (!file) return fallback;
  std::stringstream text;
  text << file.rdbuf();
  nlohmann::json value = nlohmann::json::parse(text.str(), nullptr, false);
  return value.is_discarded() ? fallback : value;
}

// pytest's Cache.set: creates the directory (with its README, .gitignore and tag when the
// cache directory itself is new) and writes the value as indented JSON.
void set_value(const fs::path& dir, const std::string& key, const nlohmann::json& value,
               std::vector<std::string>& problems) {
  const fs::path path = dir / "v" / key;
  std::error_code error;
  const bool dir_existed = fs::is_directory(path.parent_path(), error) || fs::exists(dir, error);
  fs::create_directories(path.parent_path(), error);
  if (error) {
    problems.push_back("could not create pytest's cache path " + path.string() + ": " +
                       error.message());
    return;
  }
  try {
    if (!dir_existed) {
      write_file_atomically((dir / "README.md").string(), kReadme);
      write_file_atomically((dir / ".gitignore").string(),
                            "# Created by bulkhead for pytest.\n*\n");
      write_file_atomically((dir / "CACHEDIR.TAG").string(), kCacheDirTag);
    }
    write_file_atomically(path.string(), value.dump(2));
  } catch (const std::exception& failure) {
    problems.push_back(std::string("could not write pytest's cache: ") + failure.what());
  }
}

}  // namespace

nlohmann::json updated_lastfailed(const nlohmann::json& before, const ResultStore& records) {
  nlohmann::json lastfailed = before.is_object() ? before : nlohmann::json::object();
  records.for_each([&lastfailed](const TestRecord& record) {
    for (const PhaseReport& phase : record.phases) {
      if ((phase.when == "call" && phase.outcome == "passed") || phase.outcome == "skipped") {
        lastfailed.erase(record.nodeid);
      } else if (phase.outcome == "failed") {
        lastfailed[record.nodeid] = true;
      }
    }
  });
  return lastfailed;
}

std::vector<std::string> write_pytest_cache(const protocol::PytestCacheFacts& facts,
                                            const ResultStore& records,
                                            const std::vector<std::string>& collected) {
  std::vector<std::string> problems;
  const fs::path dir = facts.dir;
  if (facts.lastfailed) {
    const nlohmann::json lastfailed = updated_lastfailed(*facts.lastfailed, records);
    const nlohmann::json saved =
        read_value(dir / "v" / "cache" / "lastfailed", nlohmann::json::object());
    if (saved != lastfailed) set_value(dir, "cache/lastfailed", lastfailed, problems);
  }
  if (!facts.collect_only) {
    std::set<std::string> nodeids(collected.begin(), collected.end());
    const nlohmann::json saved = read_value(dir / "v" / "cache" / "nodeids", nlohmann::json());
    if (saved.is_array()) {
      for (const auto& entry : saved) {
        if (entry.is_string()) nodeids.insert(entry.get<std::string>());
      }
    }
    set_value(dir, "cache/nodeids", nlohmann::json(nodeids), problems);
  }
  if (!facts.stepwise) set_value(dir, "cache/stepwise", nlohmann::json::array(), problems);
  return problems;
}

}  // namespace bulkhead

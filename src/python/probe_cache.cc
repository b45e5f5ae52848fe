// The interpreter probes' answers kept between runs (see probe_cache.h).
#include "src/python/probe_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sandbox/fd.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxEntries = 32;
constexpr int kFormat = 1;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The paths an answer depends on, read from the probe's own output.
std::vector<std::string> stamped_paths(const std::string& runnable, const nlohmann::json& facts) {
  std::vector<std::string> paths{runnable};
  auto add = [&paths](const nlohmann::json& value) {
    if (value.is_string() && !value.get<std::string>().empty()) {
      paths.push_back(value.get<std::string>());
    }
  };
  add(facts.value("executable", nlohmann::json()));
  add(facts.value("user_site", nlohmann::json()));
  if (facts.contains("prefix") && facts["prefix"].is_string()) {
    paths.push_back(facts["prefix"].get<std::string>() + "/pyvenv.cfg");
  }
  if (facts.contains("path") && facts["path"].is_array()) {
    for (const auto& dir : facts["path"]) add(dir);
  }
  return paths;
}

}  // namespace

std::string path_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "-";
  std::ostringstream out;
  out << st.st_dev << ':' << st.st_ino << ':' << st.st_size << ':' << st.st_mtim.tv_sec << '.'
      << st.st_mtim.tv_nsec;
  return out.str();
}

std::string probe_environment() {
  std::string out;
  for (const char* name : {"PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONNOUSERSITE",
                           "PYTHONSAFEPATH", "PYTHONPLATLIBDIR"}) {
    const char* value = std::getenv(name);
    out += std::string(name) + "=" + (value ? value : "\x01") + "\n";
  }
  return out;
}

ProbeCache::ProbeCache(std::string file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::ifstream in(file_);
  if (!in) return;
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.value("format", 0) != kFormat) return;
  const auto entries = doc.value("entries", nlohmann::json::object());
  if (!entries.is_object()) return;
  for (const auto& [runnable, value] : entries.items()) {
    if (!value.is_object()) continue;
    Entry entry;
    entry.environment = value.value("environment", "");
    entry.output = value.value("output", "");
    entry.used = value.value("used", 0.0);
    const auto stamps = value.value("stamps", nlohmann::json::object());
    if (!stamps.is_object() || entry.output.empty()) continue;
    for (const auto& [path, stamp] : stamps.items()) {
      if (stamp.is_string()) entry.stamps[path] = stamp.get<std::string>();
    }
    entries_[runnable] = std::move(entry);
  }
}

std::string ProbeCache::default_file() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') {
    return std::string(xdg) + "/bulkhead/python-probes.json";
  }
  if (const char* home = std::getenv("HOME"); home && *home == '/') {
    return std::string(home) + "/.cache/bulkhead/python-probes.json";
  }
  return "";
}

std::optional<std::string> ProbeCache::find(const std::string& runnable) const {
  auto it = entries_.find(runnable);
  if (it == entries_.end() || it->second.environment != probe_environment()) return std::nullopt;
  if (it->second.stamps.count(runnable) == 0) return std::nullopt;
  for (const auto& [path, stamp] : it->second.stamps) {
    if (path_stamp(path) != stamp) return std::nullopt;
  }
  return it->second.output;
}

void ProbeCache::store(const std::string& runnable, const std::string& output) {
  if (file_.empty()) return;
  auto facts = nlohmann::json::parse(output, nullptr, false);
  if (facts.is_discarded() || !facts.is_object()) return;
  Entry entry;
  entry.environment = probe_environment();
  entry.output = output;
  entry.used = now_seconds();
  for (const std::string& path : stamped_paths(runnable, facts)) {
    entry.stamps[path] = path_stamp(path);
  }
  entries_[runnable] = std::move(entry);
  changed_ = true;
}

void ProbeCache::save() const {
  if (!changed_ || file_.empty()) return;
  // The most recently stored answers, at most kMaxEntries.
  std::vector<std::pair<double, std::string>> by_use;
  for (const auto& [runnable, entry] : entries_) by_use.emplace_back(entry.used, runnable);
  std::sort(by_use.rbegin(), by_use.rend());
  if (by_use.size() > kMaxEntries) by_use.resize(kMaxEntries);
  nlohmann::json entries = nlohmann::json::object();
  for (const auto& [used, runnable] : by_use) {
    const Entry& entry = entries_.at(runnable);
    entries[runnable] = {{"environment", entry.environment},
                         {"stamps", entry.stamps},
                         {"output", entry.output},
                         {"used", entry.used}};
  }
  const nlohmann::json doc = {{"format", kFormat}, {"entries", std::move(entries)}};
  // Written beside the file under a unique name and renamed over it: two runs saving at once
  // leave one whole file.
  // Its directory is made below a base that exists (the cache home, else $HOME): never a
  // missing $HOME.
  const fs::path dir = fs::path(file_).parent_path();
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    const fs::path base = dir.parent_path();
    if (!fs::is_directory(base, error)) {
      if (!fs::is_directory(base.parent_path(), error)) return;
      fs::create_directory(base, error);
    }
    fs::create_directory(dir, error);
  }
  std::string temp = file_ + ".XXXXXX";
  UniqueFd fd(::mkstemp(temp.data()));
  if (!fd) return;
  const std::string text = doc.dump() + "\n";
  const bool written =
      ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  fd.reset();
  if (!written || ::rename(temp.c_str(), file_.c_str()) != 0) ::unlink(temp.c_str());
}

}  // namespace bulkhead

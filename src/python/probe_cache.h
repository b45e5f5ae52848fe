// The interpreter probes' answers kept between runs (~/.cache/bulkhead/python-probes.json), so
// a run starts no interpreter just to learn what it learnt last time. An answer stays valid
// while everything it depends on is unchanged: the interpreter's file, every directory on its
// sys.path (installing or removing a package changes one), its user site directory (appearing
// or changing), and the environment variables that steer sys.path.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bulkhead {

// A path's identity for the cache: inode, size and modification time, or "-" when absent.
std::string path_stamp(const std::string& path);

// The variables that change what an interpreter puts on sys.path, as one string.
std::string probe_environment();

class ProbeCache {
 public:
  // The cache at `file` (empty: none; every lookup misses and store does nothing).
  explicit ProbeCache(std::string file);
  // $XDG_CACHE_HOME/bulkhead/python-probes.json, else $HOME/.cache/...; empty without either.
  static std::string default_file();

  // The stored probe output for `runnable`, when every stamp it was stored with still holds.
  std::optional<std::string> find(const std::string& runnable) const;
  // Records `output` (the probe's JSON) for `runnable`, with stamps of the paths it names
  // (executable, sys.path, user site). Kept in memory until save().
  void store(const std::string& runnable, const std::string& output);
  // Writes the file if store() added anything (atomically; errors ignored: a cache). Makes
  // at most the cache directory and `bulkhead/` in it: a missing $HOME stays missing.
  void save() const;

 private:
  struct Entry {
    std::string environment;
    std::map<std::string, std::string> stamps;
    std::string output;
    double used = 0;
  };
  std::string file_;
  std::map<std::string, Entry> entries_;
  bool changed_ = false;
};

}  // namespace bulkhead

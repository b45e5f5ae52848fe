// Small whole-file reads and writes for /proc and /sys, with errors naming the path.
#pragma once

#include <optional>
#include <string>

namespace bulkhead {

// Throws SysError("open(path)") etc.
std::string read_file(const std::string& path);
std::optional<std::string> try_read_file(const std::string& path);
// The first line of a small file without its line end and trailing blanks; "" when it cannot
// be read (cgroup settings, .git/HEAD and the like).
std::string read_first_line(const std::string& path);
// One write(2) of `value` (cgroup and /proc files want a single write). Throws SysError.
void write_file(const std::string& path, const std::string& value);
// Returns errno (0 on success) instead of throwing; for probes and best-effort cleanup.
int try_write_file(const std::string& path, const std::string& value);
// "key value" lines (memory.events, pids.events, oom_control): the value of `key`, or 0.
unsigned long long read_keyed_counter(const std::string& path, const std::string& key);
// `path` with every symlink followed as if `root` were "/" (absolute links restart at `root`,
// ".." stops there); the result is a path inside `root`. Missing components are kept as they
// are. For mount targets in a tree that is not ours yet.
std::string resolve_in_root(const std::string& root, const std::string& path);

}  // namespace bulkhead

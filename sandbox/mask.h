// Masks: paths the payload must not read or reach (secrets, credential files, the host's unix
// sockets), each covered by an unreadable empty file or directory on a read-only mount. Also
// the host's pathname unix sockets, listed from /proc/net/unix (the supervisor's network
// namespace: the sockets the host's daemons listen on).
#pragma once

#include <string>
#include <vector>

namespace bulkhead::sandbox {

// Pathname sockets of /proc/net/unix text ('@' abstract and unnamed ones left out), each once.
std::vector<std::string> parse_unix_socket_paths(const std::string& proc_net_unix);

// The host's pathname sockets now (empty when /proc/net/unix cannot be read).
std::vector<std::string> host_unix_socket_paths();

// Init side: a small read-only tmpfs at `dir` holding `file` and `dir`, empty and mode 000, the
// sources masks are bound from (a bind of a read-only mount is read-only: one mount each).
void make_mask_sources(const std::string& dir);

// Init side, inside the sandbox's tree at `root` (e.g. "/newroot"): hides every existing match
// of `pattern` (an inside path; wildcards in its last part; symlinks resolved inside `root`)
// under a bind of the empty directory or file in `sources` (from make_mask_sources).
// `sockets_only` hides only unix sockets. Throws SysError.
void apply_mask(const std::string& root, const std::string& pattern, bool sockets_only,
                const std::string& sources);

}  // namespace bulkhead::sandbox

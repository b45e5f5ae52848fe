// Sandbox profiles: limits, mounts, network, seccomp, capabilities and env templates,
// loaded from JSON with `extends`. A bad profile is refused naming file, JSON path, expectation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bulkhead::sandbox {

// "profiles/x.json: $.limits.memory: expected a size like \"512M\", got true"
class ProfileError : public std::runtime_error {
 public:
  ProfileError(std::string file, std::string json_path, std::string message)
      : std::runtime_error(file + ": " + json_path + ": " + message),
        file_(std::move(file)),
        json_path_(std::move(json_path)) {}
  const std::string& file() const { return file_; }
  const std::string& json_path() const { return json_path_; }

 private:
  std::string file_;
  std::string json_path_;
};

struct Limits {
  std::optional<uint64_t> memory_bytes;     // cgroup memory limit (swap included where possible)
  std::optional<double> cpus;               // CPU quota in cores ("1.5")
  std::optional<uint64_t> pids;             // cgroup pids.max
  std::optional<uint64_t> nofile;           // RLIMIT_NOFILE
  std::optional<double> test_timeout_s;     // per test (bulkhead run)
  std::optional<double> worker_timeout_s;   // whole sandbox wall time (exec --timeout)
  std::map<std::string, uint64_t> rlimits;  // extra rlimits by lower-case name: "core", "stack"
};

struct BindMount {
  std::string source;
  std::string target;  // defaults to source
  bool read_only = false;
};

struct MountPolicy {
  std::vector<std::string> tmpfs = {"/tmp", "/var/tmp", "/dev/shm"};  // private tmpfs
  std::optional<uint64_t> tmpfs_size_bytes;                           // size= of each tmpfs
  bool overlay_home = true;      // $HOME as overlay: reads see host, writes stay inside
  bool overlay_project = true;   // project dir as overlay (else read-only bind)
  std::vector<BindMount> binds;  // explicit binds, applied last
  // Hidden paths (an unreadable empty file or directory takes their place): absolute or
  // "~/..." (under $HOME), wildcards allowed in the last part. Missing ones are skipped.
  std::vector<std::string> mask;
  // Project paths (relative to the project directory) bound read-write over its overlay:
  // writes there reach the host (snapshots, .hypothesis/). bulkhead run turns them into binds.
  std::vector<std::string> write_through;
};

// Who the payload is when bulkhead runs as root. Rootless runs are always the caller.
struct UserPolicy {
  enum class Kind {
    Root,          // "root": uid 0 of the sandbox's own user namespace, root's file capabilities
    Unprivileged,  // a uid: that uid (and gid) in the sandbox's user namespace, no capabilities
    Host,          // "host": the host's uid 0 with every capability dropped (no user namespace)
  };
  Kind kind = Kind::Root;
  uint32_t uid = 0;  // Unprivileged
};

// Why `path` cannot be a write-through path (absolute, "..", empty), or nullopt when it can.
std::optional<std::string> write_through_problem(const std::string& path);

struct SeccompPolicy {
  std::string default_action = "allow";  // allow | errno | kill | log
  std::string deny_action = "errno";     // action for `deny`: errno | kill | log
  int deny_errno = 1;                    // EPERM
  std::vector<std::string> deny;         // syscall names (unknown names are a profile error)
  bool deny_namespace_clone = true;      // clone() with CLONE_NEW* flags -> deny_action
};

// Commands run on the host around a run (see docs/services.md); "" when not set.
struct ServiceCommands {
  std::string setup, teardown;                // once per run
  std::string worker_setup, worker_teardown;  // once per worker slot
  std::optional<double> timeout_s;            // each command's bound
};

struct Profile {
  std::string name;         // "default"
  std::string source_path;  // file it was read from (the last of the extends chain)
  Limits limits;
  MountPolicy mounts;
  std::string network = "none";       // "none": a private netns with only lo, up
  std::vector<std::string> forwards;  // network.forward: host services reachable inside
  ServiceCommands services;
  SeccompPolicy seccomp;
  std::vector<std::string> keep_caps;  // e.g. "CAP_NET_BIND_SERVICE"; default none
  std::map<std::string, std::string>
      env;                             // templates: {worker} {worker_index} {worker_count} {run_id}
  std::vector<std::string> env_unset;  // removed from the user's environment
  bool require_isolation = false;      // refuse to degrade when something is unavailable
  UserPolicy user;
};

// Loads a profile by name (searched in `search_dirs`, as NAME.json) or by path (contains '/'
// or ends in .json). Follows `extends` (a name or a path relative to the file); child values
// override parent values field by field. Throws ProfileError.
Profile load_profile(const std::string& name_or_path, const std::vector<std::string>& search_dirs);

// Parses the JSON `text` of a profile as load_profile reads `file` (named in errors; its
// `extends` is resolved as from that file). Throws ProfileError.
Profile parse_profile(const std::string& text, const std::string& file,
                      const std::vector<std::string>& search_dirs);

// Parses "512M", "1G", "1.5G", "1048576" (bytes). Returns nullopt when malformed.
std::optional<uint64_t> parse_size(const std::string& text);
// Parses "10", "10s", "1.5s", "500ms", "2m". Returns nullopt when malformed.
std::optional<double> parse_duration_s(const std::string& text);

// Expands {worker}, {worker_index}, {worker_count}, {run_id} (and any key in `vars`) in `text`.
// Unknown {names} are left as they are; "{{" and "}}" are literal braces.
std::string expand_template(const std::string& text,
                            const std::map<std::string, std::string>& vars);

}  // namespace bulkhead::sandbox

// Profile loading (owns sandbox/profile.h): reads JSON profiles, follows `extends`, validates
// every field strictly (unknown keys, syscalls and capabilities are errors) and reports each
// problem with the file, the JSON path and what was expected. Value syntax (sizes, durations,
// templates) is in profile_values.cc.
#include "sandbox/profile.h"

#include <seccomp.h>
#include <sys/capability.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

namespace bulkhead::sandbox {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSizeExpected = "expected a size like \"512M\" or a byte count";
constexpr const char* kDurationExpected =
    "expected a duration like \"300s\", \"500ms\", \"2m\" or a number of seconds";

// ---------------------------------------------------------------------------------------------
// Small helpers for messages and paths.

bool is_identifier(const std::string& s) {
  if (s.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string child_path(const std::string& parent, const std::string& key) {
  if (is_identifier(key)) return parent + "." + key;
  return parent + "[" + json(key).dump() + "]";
}

std::string index_path(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// What a JSON value is, for "got ..." in messages.
std::string describe(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

// One file being applied: carries its name so every error can say where it happened.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw ProfileError(file_, path, message);
  }

  void expect_object(const json& v, const std::string& path) const {
    if (!v.is_object()) fail(path, "expected an object, got " + describe(v));
  }

  // Refuses keys not in `known`, suggesting the nearest known key for a likely typo.
  void check_keys(const json& obj, const std::string& path,
                  const std::vector<std::string>& known) const {
    for (const auto& [key, value] : obj.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string message = "unknown key";
      std::string best;
      size_t best_distance = 3;  // suggest only close matches
      for (const auto& k : known) {
        const size_t d = edit_distance(key, k);
        if (d < best_distance) best_distance = d, best = k;
      }
      if (!best.empty()) message += " (did you mean \"" + best + "\"?)";
      std::vector<std::string> sorted = known;
      std::sort(sorted.begin(), sorted.end());
      message += "; expected one of: " + join(sorted, ", ");
      fail(child_path(path, key), message);
    }
  }

  bool get_bool(const json& v, const std::string& path) const {
    if (!v.is_boolean()) fail(path, "expected true or false, got " + describe(v));
    return v.get<bool>();
  }

  std::string get_string(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a string, got " + describe(v));
    return v.get<std::string>();
  }

  std::vector<std::string> get_string_array(const json& v, const std::string& path,
                                            const std::string& what) const {
    if (!v.is_array()) fail(path, "expected an array of " + what + ", got " + describe(v));
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) {
        fail(index_path(path, i), "expected " + what + " as a string, got " + describe(v[i]));
      }
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }

  // A non-negative integral JSON number, or nullopt when `v` is not one.
  static std::optional<uint64_t> as_count(const json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) {
      const int64_t n = v.get<int64_t>();
      if (n >= 0) return static_cast<uint64_t>(n);
      return std::nullopt;
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d >= 0 && d < 18446744073709551616.0 && std::floor(d) == d) {
        return static_cast<uint64_t>(d);
      }
    }
    return std::nullopt;
  }

  // A size: byte count or "512M". `null` or "none" clears it (no limit).
  std::optional<uint64_t> get_size_or_none(const json& v, const std::string& path) const {
    if (v.is_null() || (v.is_string() && v.get<std::string>() == "none")) return std::nullopt;
    std::optional<uint64_t> bytes;
    if (v.is_string()) {
      bytes = parse_size(v.get<std::string>());
    } else if (v.is_number()) {
      bytes = as_count(v);
    }
    if (!bytes) fail(path, std::string(kSizeExpected) + ", got " + describe(v));
    if (*bytes == 0) fail(path, "expected a size above zero (use null for no limit), got 0");
    return bytes;
  }

  std::optional<double> get_duration_or_none(const json& v, const std::string& path) const {
    if (v.is_null() || (v.is_string() && v.get<std::string>() == "none")) return std::nullopt;
    std::optional<double> seconds;
    if (v.is_string()) {
      seconds = parse_duration_s(v.get<std::string>());
    } else if (v.is_number()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d >= 0) seconds = d;
    }
    if (!seconds) fail(path, std::string(kDurationExpected) + ", got " + describe(v));
    if (*seconds <= 0) {
      fail(path, "expected a duration above zero (use null for no limit), got " + describe(v));
    }
    return seconds;
  }

  std::optional<uint64_t> get_count_or_none(const json& v, const std::string& path,
                                            uint64_t minimum) const {
    if (v.is_null() || (v.is_string() && v.get<std::string>() == "none")) return std::nullopt;
    const auto n = as_count(v);
    if (!n || *n < minimum) {
      fail(path, "expected a whole number of at least " + std::to_string(minimum) +
                     " (or null for no limit), got " + describe(v));
    }
    return n;
  }

  std::string get_absolute_path(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected an absolute path as a string, got " + describe(v));
    const std::string p = v.get<std::string>();
    if (p.empty() || p[0] != '/') fail(path, "expected an absolute path, got " + describe(v));
    for (const auto& part : fs::path(p)) {
      if (part == "..") fail(path, "expected a path without \"..\", got " + describe(v));
    }
    return p;
  }

 private:
  std::string file_;
};

}  // namespace

std::optional<std::string> write_through_problem(const std::string& path) {
  if (path.empty()) return "expected a path relative to the project directory, got \"\"";
  if (path[0] == '/') {
    return "expected a path relative to the project directory, got the absolute \"" + path +
           "\" (use mounts.binds for paths outside the project)";
  }
  for (const auto& part : fs::path(path)) {
    if (part == "..")
      return "expected a path inside the project, without \"..\", got \"" + path + "\"";
  }
  return std::nullopt;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Field groups.

const std::vector<std::string> kTopKeys = {
    "extends",   "description",       "limits",       "mounts",
    "network",   "seccomp",           "capabilities", "env",
    "env_unset", "require_isolation", "user",         "services"};
const std::vector<std::string> kNetworkKeys = {"mode", "forward"};
const std::vector<std::string> kServiceKeys = {"setup", "teardown", "worker_setup",
                                               "worker_teardown", "timeout"};
const std::vector<std::string> kLimitKeys = {"memory",       "cpus",           "pids",   "nofile",
                                             "test_timeout", "worker_timeout", "rlimits"};
const std::vector<std::string> kMountKeys = {
    "tmpfs", "tmpfs_size", "overlay_home", "overlay_project", "binds", "mask", "write_through"};
const std::vector<std::string> kBindKeys = {"source", "target", "read_only"};
const std::vector<std::string> kSeccompKeys = {
    "default_action", "deny_action", "deny_errno",          "deny",
    "deny_add",       "deny_remove", "deny_namespace_clone"};
const std::vector<std::string> kCapabilityKeys = {"keep"};
const std::vector<std::string> kTemplateNames = {"worker", "worker_index", "worker_count",
                                                 "run_id"};

// rlimit names, and whether their value is a byte size.
const std::vector<std::pair<std::string, bool>> kRlimits = {
    {"as", true},      {"core", true},        {"cpu", false},    {"data", true},
    {"fsize", true},   {"locks", false},      {"memlock", true}, {"msgqueue", true},
    {"nice", false},   {"nproc", false},      {"rss", true},     {"rtprio", false},
    {"rttime", false}, {"sigpending", false}, {"stack", true}};

const std::vector<std::pair<std::string, int>> kErrnoNames = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"ESRCH", ESRCH},          {"EIO", EIO},
    {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES},        {"EFAULT", EFAULT},
    {"EBUSY", EBUSY},   {"EEXIST", EEXIST}, {"ENODEV", ENODEV},        {"EINVAL", EINVAL},
    {"EROFS", EROFS},   {"ENOSYS", ENOSYS}, {"EOPNOTSUPP", EOPNOTSUPP}};

void apply_limits(const Reader& r, const json& j, const std::string& path, Limits& limits) {
  r.expect_object(j, path);
  r.check_keys(j, path, kLimitKeys);
  for (const auto& [key, v] : j.items()) {
    const std::string p = child_path(path, key);
    if (key == "memory") {
      limits.memory_bytes = r.get_size_or_none(v, p);
    } else if (key == "cpus") {
      if (v.is_null()) {
        limits.cpus.reset();
      } else {
        const double d = v.is_number() ? v.get<double>() : -1;
        if (!v.is_number() || !std::isfinite(d) || d <= 0 || d > 4096) {
          r.fail(p,
                 "expected a number of CPU cores above zero like 2 or 1.5 (or null for no "
                 "limit), got " +
                     describe(v));
        }
        limits.cpus = d;
      }
    } else if (key == "pids") {
      limits.pids = r.get_count_or_none(v, p, 1);
    } else if (key == "nofile") {
      limits.nofile = r.get_count_or_none(v, p, 16);
    } else if (key == "test_timeout") {
      limits.test_timeout_s = r.get_duration_or_none(v, p);
    } else if (key == "worker_timeout") {
      limits.worker_timeout_s = r.get_duration_or_none(v, p);
    } else if (key == "rlimits") {
      r.expect_object(v, p);
      for (const auto& [name, value] : v.items()) {
        const std::string rp = child_path(p, name);
        if (name == "nofile") r.fail(rp, "set the open-file limit with $.limits.nofile");
        const auto it = std::find_if(kRlimits.begin(), kRlimits.end(),
                                     [&rlimit = name](const auto& e) { return e.first == rlimit; });
        if (it == kRlimits.end()) {
          std::vector<std::string> names;
          for (const auto& e : kRlimits) names.push_back(e.first);
          r.fail(rp, "unknown rlimit; expected one of: " + join(names, ", "));
        }
        if (value.is_string() && value.get<std::string>() == "unlimited") {
          limits.rlimits[name] = std::numeric_limits<uint64_t>::max();
          continue;
        }
        std::optional<uint64_t> n = Reader::as_count(value);
        if (!n && it->second && value.is_string()) n = parse_size(value.get<std::string>());
        if (!n) {
          r.fail(rp, std::string(it->second ? "expected a size like \"8M\", a byte count"
                                            : "expected a whole number") +
                         " or \"unlimited\", got " + describe(value));
        }
        limits.rlimits[name] = *n;
      }
    }
  }
}

// An absolute path or "~/..." (under $HOME); '*', '?' and '[...]' may appear in the last part.
std::string get_mask_path(const Reader& r, const json& v, const std::string& path) {
  const bool in_home = v.is_string() && v.get<std::string>().rfind("~/", 0) == 0;
  if (in_home) {
    for (const auto& part : fs::path(v.get<std::string>())) {
      if (part == "..") r.fail(path, "expected a path without \"..\", got " + describe(v));
    }
  }
  const std::string p = in_home
                            ? "~" + r.get_absolute_path(json(v.get<std::string>().substr(1)), path)
                            : r.get_absolute_path(v, path);
  if (p.find_first_of("*?[") < p.rfind('/')) {
    r.fail(path, "expected wildcards only in the last part of the path, got " + describe(v));
  }
  return p;
}

// "root", "host" or a uid from 1 to 65535.
UserPolicy get_user(const Reader& r, const json& v, const std::string& path) {
  UserPolicy user;
  if (v.is_string() && v.get<std::string>() == "root") return user;
  if (v.is_string() && v.get<std::string>() == "host") {
    user.kind = UserPolicy::Kind::Host;
    return user;
  }
  const auto uid = Reader::as_count(v);
  if (!uid || *uid < 1 || *uid > 65535) {
    r.fail(path, "expected \"root\", \"host\" or a uid from 1 to 65535, got " + describe(v));
  }
  user.kind = UserPolicy::Kind::Unprivileged;
  user.uid = static_cast<uint32_t>(*uid);
  return user;
}

void apply_mounts(const Reader& r, const json& j, const std::string& path, MountPolicy& mounts) {
  r.expect_object(j, path);
  r.check_keys(j, path, kMountKeys);
  for (const auto& [key, v] : j.items()) {
    const std::string p = child_path(path, key);
    if (key == "tmpfs") {
      if (!v.is_array()) r.fail(p, "expected an array of absolute paths, got " + describe(v));
      std::vector<std::string> paths;
      for (size_t i = 0; i < v.size(); ++i)
        paths.push_back(r.get_absolute_path(v[i], index_path(p, i)));
      mounts.tmpfs = std::move(paths);
    } else if (key == "mask") {
      if (!v.is_array()) r.fail(p, "expected an array of paths, got " + describe(v));
      std::vector<std::string> paths;
      for (size_t i = 0; i < v.size(); ++i)
        paths.push_back(get_mask_path(r, v[i], index_path(p, i)));
      mounts.mask = std::move(paths);
    } else if (key == "tmpfs_size") {
      mounts.tmpfs_size_bytes = r.get_size_or_none(v, p);
    } else if (key == "overlay_home") {
      mounts.overlay_home = r.get_bool(v, p);
    } else if (key == "overlay_project") {
      mounts.overlay_project = r.get_bool(v, p);
    } else if (key == "binds") {
      if (!v.is_array()) {
        r.fail(p, "expected an array of {\"source\", \"target\", \"read_only\"} objects, got " +
                      describe(v));
      }
      std::vector<BindMount> binds;
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string bp = index_path(p, i);
        r.expect_object(v[i], bp);
        r.check_keys(v[i], bp, kBindKeys);
        if (!v[i].contains("source")) r.fail(bp, "missing \"source\" (an absolute path)");
        BindMount bind;
        bind.source = r.get_absolute_path(v[i]["source"], bp + ".source");
        bind.target = v[i].contains("target") ? r.get_absolute_path(v[i]["target"], bp + ".target")
                                              : bind.source;
        if (v[i].contains("read_only"))
          bind.read_only = r.get_bool(v[i]["read_only"], bp + ".read_only");
        binds.push_back(std::move(bind));
      }
      mounts.binds = std::move(binds);
    } else if (key == "write_through") {
      std::vector<std::string> paths =
          r.get_string_array(v, p, "paths relative to the project directory");
      for (size_t i = 0; i < paths.size(); ++i) {
        if (auto problem = write_through_problem(paths[i])) r.fail(index_path(p, i), *problem);
      }
      mounts.write_through = std::move(paths);
    }
  }
}

std::vector<std::string> get_syscalls(const Reader& r, const json& v, const std::string& path) {
  std::vector<std::string> names = r.get_string_array(v, path, "syscall names");
  for (size_t i = 0; i < names.size(); ++i) {
    if (seccomp_syscall_resolve_name(names[i].c_str()) == __NR_SCMP_ERROR) {
      r.fail(index_path(path, i), "unknown syscall " + json(names[i]).dump() +
                                      " (libseccomp does not know it on this architecture)");
    }
  }
  return names;
}

void add_unique(std::vector<std::string>& list, const std::vector<std::string>& items) {
  for (const auto& item : items) {
    if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
  }
}

void apply_seccomp(const Reader& r, const json& j, const std::string& path, SeccompPolicy& sc) {
  r.expect_object(j, path);
  r.check_keys(j, path, kSeccompKeys);
  // Order within one file: `deny` replaces, then `deny_remove`, then `deny_add`.
  for (const auto& [key, v] : j.items()) {
    const std::string p = child_path(path, key);
    if (key == "default_action") {
      const std::string a = r.get_string(v, p);
      if (a != "allow" && a != "errno" && a != "kill" && a != "log") {
        r.fail(p, "expected one of \"allow\", \"errno\", \"kill\", \"log\", got " + describe(v));
      }
      sc.default_action = a;
    } else if (key == "deny_action") {
      const std::string a = r.get_string(v, p);
      if (a != "errno" && a != "kill" && a != "log") {
        r.fail(p, "expected one of \"errno\", \"kill\", \"log\", got " + describe(v));
      }
      sc.deny_action = a;
    } else if (key == "deny_errno") {
      std::optional<int> err;
      if (v.is_string()) {
        for (const auto& [name, value] : kErrnoNames) {
          if (name == v.get<std::string>()) err = value;
        }
      } else if (const auto n = Reader::as_count(v); n && *n >= 1 && *n <= 4095) {
        err = static_cast<int>(*n);
      }
      if (!err) {
        std::vector<std::string> names;
        for (const auto& e : kErrnoNames) names.push_back(e.first);
        r.fail(p, "expected an errno name (" + join(names, ", ") +
                      ") or a number from 1 to 4095, got " + describe(v));
      }
      sc.deny_errno = *err;
    } else if (key == "deny_namespace_clone") {
      sc.deny_namespace_clone = r.get_bool(v, p);
    }
  }
  if (j.contains("deny")) {
    sc.deny.clear();
    add_unique(sc.deny, get_syscalls(r, j["deny"], path + ".deny"));
  }
  if (j.contains("deny_remove")) {
    for (const auto& name : get_syscalls(r, j["deny_remove"], path + ".deny_remove")) {
      std::erase(sc.deny, name);
    }
  }
  if (j.contains("deny_add"))
    add_unique(sc.deny, get_syscalls(r, j["deny_add"], path + ".deny_add"));
}

void apply_capabilities(const Reader& r, const json& j, const std::string& path,
                        std::vector<std::string>& keep) {
  r.expect_object(j, path);
  r.check_keys(j, path, kCapabilityKeys);
  if (!j.contains("keep")) return;
  const std::string p = path + ".keep";
  std::vector<std::string> names = r.get_string_array(j["keep"], p, "capability names");
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string upper = names[i];
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    cap_value_t value = 0;
    // cap_from_name also takes bare numbers; a profile must name the capability.
    if (upper.rfind("CAP_", 0) != 0 || cap_from_name(upper.c_str(), &value) != 0) {
      r.fail(index_path(p, i), "unknown capability " + json(names[i]).dump() +
                                   " (expected a name like \"CAP_NET_BIND_SERVICE\")");
    }
    add_unique(out, {upper});
  }
  keep = std::move(out);
}

// Refuses {placeholders} we would never fill: a typo like {workr} must not reach a test.
void check_template(const Reader& r, const std::string& text, const std::string& path) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') continue;
    if (i + 1 < text.size() && text[i + 1] == '{') {
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 1);
    if (close == std::string::npos) return;
    const std::string name = text.substr(i + 1, close - i - 1);
    if (is_identifier(name) &&
        std::find(kTemplateNames.begin(), kTemplateNames.end(), name) == kTemplateNames.end()) {
      r.fail(path, "unknown placeholder {" + name + "}; expected {" + join(kTemplateNames, "}, {") +
                       "} (write {{ and }} for literal braces)");
    }
    i = close;
  }
}

void apply_env(const Reader& r, const json& j, const std::string& path,
               std::map<std::string, std::string>& env) {
  r.expect_object(j, path);
  for (const auto& [key, v] : j.items()) {
    const std::string p = child_path(path, key);
    if (!is_identifier(key)) {
      r.fail(p,
             "expected an environment variable name (letters, digits, _), got " + json(key).dump());
    }
    if (v.is_null()) {  // drops a variable set by the profile this one extends
      env.erase(key);
      continue;
    }
    if (!v.is_string()) r.fail(p, "expected a string (or null to drop it), got " + describe(v));
    check_template(r, v.get<std::string>(), p);
    env[key] = v.get<std::string>();
  }
}

// "none", or {"mode": "none", "forward": ["5432", ...]} (specs are checked by the caller).
void apply_network(const Reader& r, const json& v, const std::string& p, Profile& profile) {
  auto mode_of = [&](const json& m, const std::string& mp) {
    const std::string mode = r.get_string(m, mp);
    if (mode != "none") {
      r.fail(mp, "expected \"none\" (a private network with only loopback), got " + describe(m));
    }
    profile.network = mode;
  };
  if (!v.is_object()) return mode_of(v, p);
  r.check_keys(v, p, kNetworkKeys);
  for (const auto& [key, value] : v.items()) {
    if (key == "mode") mode_of(value, child_path(p, key));
    if (key == "forward") {
      profile.forwards = r.get_string_array(value, child_path(p, key), "forward specs");
    }
  }
}

void apply_services(const Reader& r, const json& v, const std::string& p,
                    ServiceCommands& services) {
  r.expect_object(v, p);
  r.check_keys(v, p, kServiceKeys);
  for (const auto& [key, value] : v.items()) {
    const std::string vp = child_path(p, key);
    if (key == "timeout") {
      services.timeout_s = r.get_duration_or_none(value, vp);
      continue;
    }
    const std::string command = value.is_null() ? "" : r.get_string(value, vp);
    if (key == "setup") services.setup = command;
    if (key == "teardown") services.teardown = command;
    if (key == "worker_setup") services.worker_setup = command;
    if (key == "worker_teardown") services.worker_teardown = command;
  }
}

void apply_profile(const Reader& r, const json& j, Profile& profile) {
  const std::string root = "$";
  for (const auto& [key, v] : j.items()) {
    const std::string p = child_path(root, key);
    if (key == "description") {
      r.get_string(v, p);
    } else if (key == "limits") {
      apply_limits(r, v, p, profile.limits);
    } else if (key == "mounts") {
      apply_mounts(r, v, p, profile.mounts);
    } else if (key == "network") {
      apply_network(r, v, p, profile);
    } else if (key == "services") {
      apply_services(r, v, p, profile.services);
    } else if (key == "seccomp") {
      apply_seccomp(r, v, p, profile.seccomp);
    } else if (key == "capabilities") {
      apply_capabilities(r, v, p, profile.keep_caps);
    } else if (key == "env") {
      apply_env(r, v, p, profile.env);
    } else if (key == "env_unset") {
      std::vector<std::string> names = r.get_string_array(v, p, "environment variable names");
      for (size_t i = 0; i < names.size(); ++i) {
        if (!is_identifier(names[i])) {
          r.fail(index_path(p, i),
                 "expected an environment variable name (letters, digits, _), got " +
                     json(names[i]).dump());
        }
      }
      profile.env_unset = std::move(names);
    } else if (key == "require_isolation") {
      profile.require_isolation = r.get_bool(v, p);
    } else if (key == "user") {
      profile.user = get_user(r, v, p);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Files and the extends chain.

// Parses the JSON text of profile `file` (named in errors).
json parse_json(const std::string& text, const std::string& file) {
  try {
    return json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // e.byte is 1-based: the position of the character the parser stopped at.
    size_t line = 1, column = 1;
    const size_t stop = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (size_t i = 0; i < stop; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    // nlohmann's text reads "[json.exception.parse_error.101] parse error at line 3, column 5:
    // syntax error while parsing ..."; keep only what follows the position.
    std::string detail = e.what();
    if (const size_t at = detail.find(": ", detail.find("parse error")); at != std::string::npos) {
      detail = detail.substr(at + 2);
    }
    throw ProfileError(file, "$",
                       "invalid JSON at line " + std::to_string(line) + ", column " +
                           std::to_string(column) + ": " + detail);
  } catch (const json::out_of_range& e) {
    // A number too large for a double ("1e999"): the parser gives no position.
    std::string detail = e.what();
    if (const size_t at = detail.find("] "); at != std::string::npos) detail.erase(0, at + 2);
    throw ProfileError(file, "$", "invalid JSON: " + detail);
  }
}

json read_json(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw ProfileError(file, "$", std::string("cannot read the file: ") + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_json(buffer.str(), file);
}

bool names_a_path(const std::string& s) {
  return s.find('/') != std::string::npos ||
         (s.size() >= 5 && s.compare(s.size() - 5, 5, ".json") == 0);
}

// Finds NAME.json in the search dirs; empty when none has it.
std::string find_by_name(const std::string& name, const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    const fs::path candidate = fs::path(dir) / (name + ".json");
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  return {};
}

std::string not_found_message(const std::string& name, const std::vector<std::string>& dirs) {
  if (dirs.empty()) return "no profile named \"" + name + "\" (no profile directories to search)";
  return "no profile named \"" + name + "\" (looked for " + name + ".json in " + join(dirs, ", ") +
         ")";
}

std::string identity(const std::string& file) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(file, ec);
  return ec ? file : canonical.string();
}

Profile load_file(const std::string& file, const std::vector<std::string>& search_dirs,
                  std::vector<std::pair<std::string, std::string>>& chain);

// Applies the parsed profile `j` of `file` over its `extends` chain.
Profile load_json(const json& j, const std::string& file,
                  const std::vector<std::string>& search_dirs,
                  std::vector<std::pair<std::string, std::string>>& chain) {
  const Reader r(file);
  r.expect_object(j, "$");
  r.check_keys(j, "$", kTopKeys);

  Profile profile;
  if (j.contains("extends")) {
    const std::string parent = r.get_string(j["extends"], "$.extends");
    if (parent.empty()) r.fail("$.extends", "expected a profile name or path, got \"\"");
    std::string parent_file;
    if (names_a_path(parent)) {
      const fs::path p(parent);
      parent_file = p.is_absolute() ? p.string() : (fs::path(file).parent_path() / p).string();
      std::error_code ec;
      if (!fs::is_regular_file(parent_file, ec)) {
        r.fail("$.extends", "no such profile file: " + parent_file);
      }
    } else {
      parent_file = find_by_name(parent, search_dirs);
      if (parent_file.empty()) r.fail("$.extends", not_found_message(parent, search_dirs));
    }
    const std::string id = identity(parent_file);
    for (const auto& [seen_id, seen_file] : chain) {
      if (seen_id != id) continue;
      std::vector<std::string> files;
      for (const auto& entry : chain) files.push_back(entry.second);
      files.push_back(parent_file);
      r.fail("$.extends", "extends cycle: " + join(files, " -> "));
    }
    chain.emplace_back(id, parent_file);
    profile = load_file(parent_file, search_dirs, chain);
    chain.pop_back();
  }
  apply_profile(r, j, profile);
  return profile;
}

Profile load_file(const std::string& file, const std::vector<std::string>& search_dirs,
                  std::vector<std::pair<std::string, std::string>>& chain) {
  return load_json(read_json(file), file, search_dirs, chain);
}

}  // namespace

Profile load_profile(const std::string& name_or_path, const std::vector<std::string>& search_dirs) {
  std::string file;
  std::string name;
  if (names_a_path(name_or_path)) {
    file = name_or_path;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw ProfileError(file, "$", "no such profile file");
    }
    name = fs::path(file).stem().string();
  } else {
    if (name_or_path.empty())
      throw ProfileError("", "$", "expected a profile name or path, got \"\"");
    file = find_by_name(name_or_path, search_dirs);
    if (file.empty())
      throw ProfileError(name_or_path, "$", not_found_message(name_or_path, search_dirs));
    name = name_or_path;
  }
  std::vector<std::pair<std::string, std::string>> chain = {{identity(file), file}};
  Profile profile = load_file(file, search_dirs, chain);
  profile.name = name;
  profile.source_path = file;
  return profile;
}

Profile parse_profile(const std::string& text, const std::string& file,
                      const std::vector<std::string>& search_dirs) {
  std::vector<std::pair<std::string, std::string>> chain = {{identity(file), file}};
  Profile profile = load_json(parse_json(text, file), file, search_dirs, chain);
  profile.name = fs::path(file).stem().string();
  profile.source_path = file;
  return profile;
}

}  // namespace bulkhead::sandbox

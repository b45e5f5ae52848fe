// Small whole-file reads and writes for /proc and /sys, with errors naming the path; path
// resolution inside a tree that is not our root.
#include "sandbox/file_util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <sstream>
#include <vector>

#include "sandbox/error.h"
#include "sandbox/fd.h"

namespace bulkhead {

std::optional<std::string> try_read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string read_first_line(const std::string& path) {
  std::string text = try_read_file(path).value_or("");
  text.resize(std::min(text.find('\n'), text.size()));
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string read_file(const std::string& path) {
  auto content = try_read_file(path);
  if (!content) throw_errno("read " + path);
  return *content;
}

int try_write_file(const std::string& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno;
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return errno;
  return n == static_cast<ssize_t>(value.size()) ? 0 : EIO;
}

void write_file(const std::string& path, const std::string& value) {
  int err = try_write_file(path, value);
  if (err != 0) throw SysError("write '" + value + "' to " + path, err);
}

unsigned long long read_keyed_counter(const std::string& path, const std::string& key) {
  auto content = try_read_file(path);
  if (!content) return 0;
  std::istringstream in(*content);
  std::string name;
  unsigned long long value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

namespace {
void push_parts(const std::string& path, std::deque<std::string>& todo) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty() && part != ".") parts.push_back(part);
  }
  todo.insert(todo.begin(), parts.begin(), parts.end());
}
}  // namespace

std::string resolve_in_root(const std::string& root, const std::string& path) {
  std::deque<std::string> todo;
  push_parts(path, todo);
  std::vector<std::string> done;
  int links = 0;
  auto joined = [&] {
    std::string out;
    for (const auto& part : done) out += "/" + part;
    return out;
  };
  while (!todo.empty()) {
    std::string part = todo.front();
    todo.pop_front();
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    const std::string current = root + joined() + "/" + part;
    struct stat st;
    if (links < 40 && ::lstat(current.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      const ssize_t n = ::readlink(current.c_str(), target, sizeof target - 1);
      if (n > 0) {
        ++links;
        if (target[0] == '/') done.clear();
        push_parts(std::string(target, static_cast<size_t>(n)), todo);
        continue;
      }
    }
    done.push_back(part);
  }
  const std::string out = joined();
  return out.empty() ? "/" : out;
}

}  // namespace bulkhead

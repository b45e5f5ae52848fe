// Replay lists and their plan; see replay_list.h.
#include "src/diagnose/replay_list.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sandbox/error.h"

namespace bulkhead {
namespace {

std::string trimmed(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::vector<std::string> parse_replay_list(const std::string& text, const std::string& path) {
  std::vector<std::string> nodeids;
  std::map<std::string, std::size_t> seen;  // node id -> line
  std::istringstream lines(text);
  std::string line;
  for (std::size_t number = 1; std::getline(lines, line); ++number) {
    const std::string nodeid = trimmed(line);
    if (nodeid.empty() || nodeid[0] == '#') continue;
    const auto [at, inserted] = seen.emplace(nodeid, number);
    if (!inserted) {
      throw UserError(path + ":" + std::to_string(number) + ": " + nodeid +
                      " is listed twice (first on line " + std::to_string(at->second) +
                      "): a sandbox runs a test once");
    }
    nodeids.push_back(nodeid);
  }
  if (nodeids.empty()) throw UserError(path + ": lists no node id (one per line)");
  return nodeids;
}

std::vector<std::string> read_replay_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot read the replay list: " + std::strerror(errno));
  std::ostringstream text;
  text << file.rdbuf();
  return parse_replay_list(text.str(), path);
}

int parse_worker_id(const std::string& text) {
  const std::string digits = text.rfind("gw", 0) == 0 ? text.substr(2) : "";
  const bool number = !digits.empty() && digits.size() <= 4 &&
                      digits.find_first_not_of("0123456789") == std::string::npos &&
                      (digits == "0" || digits[0] != '0');
  if (!number || std::stoi(digits) >= 4096) {
    throw UserError("expected a worker id like gw0 or gw3 (below gw4096), got '" + text + "'");
  }
  return std::stoi(digits);
}

WorkPlan replay_plan(const std::vector<ScheduledItem>& items,
                     const std::vector<std::string>& nodeids, const std::string& path) {
  std::map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < items.size(); ++i) at.emplace(items[i].nodeid, i);
  WorkPlan plan;
  plan.selected.assign(items.size(), false);
  std::vector<std::string> unknown;
  for (const std::string& nodeid : nodeids) {
    const auto found = at.find(nodeid);
    if (found == at.end()) {
      unknown.push_back(nodeid);
      continue;
    }
    plan.selected[found->second] = true;
    plan.sequence.push_back(found->second);
  }
  if (!unknown.empty()) {
    std::string names;
    const std::size_t shown = std::min<std::size_t>(unknown.size(), 10);
    for (std::size_t i = 0; i < shown; ++i) names += "\n  " + unknown[i];
    if (unknown.size() > shown) {
      names += "\n  ... and " + std::to_string(unknown.size() - shown) + " more";
    }
    throw UserError(path + ": " + std::to_string(unknown.size()) + " of " +
                    std::to_string(nodeids.size()) + " node ids were not collected" +
                    " (renamed, deselected, or another rootdir?):" + names);
  }
  plan.note = "replaying " + std::to_string(nodeids.size()) + " test" +
              (nodeids.size() == 1 ? "" : "s") + " in order from " + path;
  return plan;
}

}  // namespace bulkhead

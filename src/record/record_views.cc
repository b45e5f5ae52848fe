// `runs` and `show` texts (record_views.h).
#include "src/record/record_views.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <tuple>

#include "src/report/top_memory.h"

namespace bulkhead::record {
namespace {

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

std::string local_time(double unix_time, bool with_millis = false) {
  if (unix_time <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, with_millis ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  std::string text = buffer;
  if (with_millis) {
    const int millis = static_cast<int>((unix_time - static_cast<double>(seconds)) * 1000);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03d", std::clamp(millis, 0, 999));
    text += ms;
  }
  return text;
}

std::string seconds_text(double seconds) { return format("%.2fs", seconds); }

std::string size_text(uint64_t bytes) {
  if (bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + " GiB";
  if (bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

std::string exit_text(const RunRecord& run, bool running) {
  if (run.finished) return std::to_string(run.exit_code);
  return running ? "running" : "died";
}

std::string outcome_word(const RecordedTest& test) {
  std::string word = test.outcome;
  for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!test.cause.empty() && test.cause != "notrun") word += " (" + test.cause + ")";
  return word;
}

// "memory peak 251.2 MiB (+200.0 MiB during the test), CPU 0.31s (cgroup), 5 pids started":
// what was measured of it.
std::string resources_text(const TestResources& r) {
  const ResourceFigures figures = resource_figures(r);
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (r.memory_peak_bytes) {
    std::string memory = "memory peak " + figures.peak;
    if (r.memory_peak_scope == "sandbox") {
      memory += " (its sandbox's peak so far)";
    } else if (figures.growth != "-") {
      memory += " (" + figures.growth + " during the test)";
    }
    add(memory);
  }
  if (r.cpu_s) add("CPU " + figures.cpu + (r.cpu_source.empty() ? "" : " (" + r.cpu_source + ")"));
  if (r.pids_started) add(figures.pids + " pids started");
  return out;
}

}  // namespace

std::string quoted_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    const bool plain =
        !arg.empty() && arg.find_first_of(" \t'\"$`\\*?[]{}()<>|&;#~!") == std::string::npos;
    std::string quoted = arg;
    if (!plain) {
      quoted = "'";
      for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      quoted += "'";
    }
    out += (out.empty() ? "" : " ") + quoted;
  }
  return out;
}

std::string counts_text(const RunRecord& run) {
  std::string out;
  for (const char* name : {"failed", "passed", "skipped", "xfailed", "xpassed", "error", "notrun",
                           "timeout", "crash", "oom", "flaky", "order-dependent"}) {
    auto found = run.counts.find(name);
    if (found == run.counts.end() || found->second == 0) continue;
    const std::string label = std::string(name) == "error" && found->second > 1 ? "errors"
                              : std::string(name) == "notrun"                   ? "not run"
                                                                                : name;
    out += (out.empty() ? "" : ", ") + std::to_string(found->second) + " " + label;
  }
  return out.empty() ? "no tests" : out;
}

std::string runs_table(const std::vector<RunListing>& runs) {
  if (runs.empty()) return "";
  std::size_t id_width = 6;
  for (const RunListing& entry : runs) id_width = std::max(id_width, entry.run_id.size());
  auto pad = [](std::string text, std::size_t width) {
    if (text.size() < width) text.append(width - text.size(), ' ');
    return text;
  };
  std::string out = pad("RUN", id_width) + "  " + pad("WHEN", 19) + "  " + pad("EXIT", 7) + "  " +
                    pad("WALL", 9) + "  TESTS\n";
  for (const RunListing& entry : runs) {
    if (!entry.run) {
      out += pad(entry.run_id, id_width) + "  damaged: " + entry.problem + "\n";
      continue;
    }
    const RunRecord& run = *entry.run;
    const std::string wall = run.finished ? seconds_text(run.duration) : "-";
    out += pad(entry.run_id, id_width) + "  " + pad(local_time(run.start_time), 19) + "  " +
           pad(exit_text(run, entry.running), 7) + "  " + pad(wall, 9) + "  " +
           (run.finished ? counts_text(run) : std::to_string(run.tests.size()) + " ended so far") +
           "\n";
  }
  return out;
}

std::string run_summary(const RunRecord& run, bool running) {
  std::string out;
  out += "run " + run.run_id + "  " + local_time(run.start_time) + "  exit " +
         exit_text(run, running) +
         (run.finished ? "  wall " + seconds_text(run.duration) : std::string()) + "\n";
  out += "command: " + quoted_command(run.argv) + "\n";
  out += "cwd: " + run.cwd + "  rootdir: " + run.rootdir +
         (run.git_commit.empty() ? "" : "  git: " + run.git_commit.substr(0, 12)) + "\n";
  out += "versions: bulkhead " + run.bulkhead_version + ", Python " + run.python_version +
         ", pytest " + run.pytest_version + " (" + run.python + ")\n";
  const RecordedLimits& l = run.limits;
  auto or_none = [](bool set, const std::string& text) { return set ? text : std::string("-"); };
  out += "profile: " + run.profile + "  limits: memory " +
         or_none(l.memory_bytes.has_value(), l.memory_bytes ? size_text(*l.memory_bytes) : "") +
         ", cpus " + or_none(l.cpus.has_value(), l.cpus ? format("%g", *l.cpus) : "") + ", pids " +
         or_none(l.pids.has_value(), l.pids ? std::to_string(*l.pids) : "") + ", nofile " +
         or_none(l.nofile.has_value(), l.nofile ? std::to_string(*l.nofile) : "") +
         ", test timeout " +
         (run.settings.timeout_s ? format("%gs", *run.settings.timeout_s) + " (--timeout)"
          : l.test_timeout_s     ? format("%gs", *l.test_timeout_s)
                                 : std::string("-")) +
         "\n";
  out += "settings: " + std::to_string(run.settings.workers) +
         (run.settings.workers == 1 ? " worker" : " workers") + ", dist " + run.settings.dist +
         ", " + run.settings.mode + ", isolate " + run.settings.isolate +
         (run.settings.retries > 0 ? ", retries " + std::to_string(run.settings.retries) : "") +
         "\n";
  if (!run.seeds.empty()) {
    std::string seeds;
    for (const auto& [name, value] : run.seeds)
      seeds += (seeds.empty() ? "" : ", ") + name + "=" + value;
    out += "seeds: " + seeds + "\n";
  }
  out += "tests: " + std::to_string(run.collected) + " collected; " +
         (run.finished ? counts_text(run) : std::to_string(run.tests.size()) + " ended so far") +
         "\n";

  // Sandboxes, in the order they started: (attempt, worker, incarnation) -> their tests.
  struct Sandbox {
    std::vector<const RecordedTest*> tests;
    double start = 0;
  };
  std::map<std::tuple<int, std::string, int>, Sandbox> sandboxes;
  std::size_t never = 0;
  for (const RecordedTest& test : run.tests) {
    if (test.sandbox < 0 || test.worker.empty()) {
      never += test.attempt == 0;
      continue;
    }
    Sandbox& box = sandboxes[{test.attempt, test.worker, test.sandbox}];
    box.tests.push_back(&test);
    if (test.start > 0 && (box.start == 0 || test.start < box.start)) box.start = test.start;
  }
  std::vector<std::pair<const std::tuple<int, std::string, int>*, Sandbox*>> order;
  for (auto& [key, box] : sandboxes) order.emplace_back(&key, &box);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::get<0>(*a.first) != std::get<0>(*b.first)
               ? std::get<0>(*a.first) < std::get<0>(*b.first)
               : a.second->start < b.second->start;
  });
  out += "sandboxes: " + std::to_string(order.size()) + "\n";
  for (const auto& [key, box] : order) {
    std::sort(box->tests.begin(), box->tests.end(),
              [](const RecordedTest* a, const RecordedTest* b) { return a->seq < b->seq; });
    const RecordedTest& last = *box->tests.back();
    std::size_t failing = 0;
    for (const RecordedTest* test : box->tests) {
      failing += test->outcome == "failed" || test->outcome == "error";
    }
    std::string line = "  " + std::get<1>(*key) + " #" + std::to_string(std::get<2>(*key));
    if (std::get<0>(*key) > 0) {
      line += " (retry " + std::to_string(std::get<0>(*key)) + ", " + last.kind + ")";
    }
    line += ": " + std::to_string(box->tests.size()) +
            (box->tests.size() == 1 ? " test" : " tests") + ", " + local_time(box->start, true) +
            " to " + local_time(last.stop, true);
    if (failing > 0) line += ", " + std::to_string(failing) + " failing";
    if (!last.cause.empty() && last.cause != "notrun") {
      line += "; ended by " + last.cause + " in " + last.nodeid;
    }
    out += line + "\n";
  }
  if (never > 0) out += "never ran: " + std::to_string(never) + "\n";
  return out;
}

std::string test_view(const RunRecord& run, const RecordedTest& test, std::size_t last_few) {
  std::string out = test.nodeid + "  " + outcome_word(test) + "\n";
  if (!test.cause_message.empty()) {
    std::string message = test.cause_message.substr(0, test.cause_message.find('\n'));
    out += "  " + message + "\n";
  }
  if (test.sandbox < 0 || test.worker.empty()) {
    out += "never ran (run " + run.run_id + ")\n";
  } else {
    const std::vector<const RecordedTest*> sequence = sandbox_sequence(run, test);
    const std::size_t before = sequence.empty() ? 0 : sequence.size() - 1;
    out += "ran in: " + test.worker + ", sandbox #" + std::to_string(test.sandbox) + ", position " +
           std::to_string(test.seq) + " (" + std::to_string(before) +
           (before == 1 ? " test" : " tests") + " before it in that sandbox); " +
           local_time(test.start, true) + ", " + seconds_text(test.stop - test.start) + "\n";
    const std::string cost = test.resources ? resources_text(*test.resources) : "";
    if (!cost.empty()) out += "resources: " + cost + "\n";
    if (before > 0) {
      const std::size_t shown = std::min(before, last_few);
      out +=
          shown == before ? "before it:\n" : "the last " + std::to_string(shown) + " before it:\n";
      for (std::size_t i = before - shown; i < before; ++i) {
        out += "  " + std::to_string(sequence[i]->seq) + ". " + sequence[i]->nodeid + "  " +
               sequence[i]->outcome + "\n";
      }
    }
    if (before != static_cast<std::size_t>(test.seq)) {
      out += "note: the record lacks " + std::to_string(test.seq - static_cast<int>(before)) +
             " test(s) of this sandbox (a run cut short)\n";
    }
  }
  // Its --retries attempts: how each ran (alone, or replayed after its sandbox's
  // predecessors), how it ended and why, what it cost.
  for (const RecordedTest& other : run.tests) {
    if (other.attempt == 0 || other.index != test.index || other.nodeid != test.nodeid) continue;
    std::string how = other.kind;
    if (other.kind == "replay") {
      const std::size_t after = sandbox_sequence(run, other).size();
      if (after > 0)
        how += " after " + std::to_string(after - 1) + (after == 2 ? " test" : " tests");
    }
    out += "retry " + std::to_string(other.attempt) + " (" + how + "): " + outcome_word(other);
    if (other.worker.empty()) {
      out += ", never ran\n";
    } else {
      out += " in " + other.worker + ", " + seconds_text(other.stop - other.start) + "\n";
    }
    if (!other.cause_message.empty()) {
      out += "  " + other.cause_message.substr(0, other.cause_message.find('\n')) + "\n";
    }
    const std::string retry_cost = other.resources ? resources_text(*other.resources) : "";
    if (!retry_cost.empty()) out += "  resources: " + retry_cost + "\n";
  }
  out +=
      "reproduce: bulkhead repro " + quoted_command({test.nodeid}) + " --run " + run.run_id + "\n";
  return out;
}

}  // namespace bulkhead::record

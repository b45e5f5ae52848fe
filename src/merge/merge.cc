// Merging shard reports (merge.h).
#include "src/merge/merge.h"

#include <algorithm>
#include <map>
#include <set>

#include "src/report/outcome.h"

namespace bulkhead {

namespace {

std::string label(int index, int total) {
  return "shard " + std::to_string(index + 1) + "/" + std::to_string(total);
}

std::string source_of(const ShardAssignment& shard) {
  if (shard.provider.empty()) return shard.found;
  return shard.provider + ": " + shard.found;
}

// How two collections differ, in a few words and up to five node ids.
std::string collection_difference(const std::vector<std::string>& a,
                                  const std::vector<std::string>& b) {
  const std::set<std::string> in_a(a.begin(), a.end());
  const std::set<std::string> in_b(b.begin(), b.end());
  std::string text = std::to_string(a.size()) + " against " + std::to_string(b.size()) + " tests";
  int shown = 0;
  for (const std::string& id : a) {
    if (!in_b.count(id) && shown++ < 5) text += "\n  - " + id;
  }
  for (const std::string& id : b) {
    if (!in_a.count(id) && shown++ < 5) text += "\n  + " + id;
  }
  if (shown == 0) text += ", the same tests in another order";
  return text;
}

// Everything that makes one shard's report unfit to merge with the first one.
void check_belongs(const ShardInput& first, const ShardInput& input,
                   std::vector<std::string>& errors) {
  const ShardAssignment& a = *first.run.shard;
  const ShardAssignment& b = *input.run.shard;
  const std::string them = label(b.index, b.total) + " (" + input.path + ") and " +
                           label(a.index, a.total) + " (" + first.path + ")";
  if (a.total != b.total) {
    errors.push_back(them + " come from splits into different numbers of shards");
    return;
  }
  if (first.collection != input.collection) {
    errors.push_back(them + " collected different tests: " +
                     collection_difference(first.collection, input.collection));
    return;
  }
  if (a.digest != b.digest) {
    errors.push_back(them + " split the same collection differently (split " + b.digest +
                     " against " + a.digest + "; durations from " + b.durations + " against " +
                     a.durations + "): give every shard the same durations file");
  }
}

}  // namespace

MergeResult merge_shards(std::vector<ShardInput> inputs) {
  MergeResult out;
  // Every report must be a shard's, of one split.
  for (const ShardInput& input : inputs) {
    if (!input.run.shard) {
      out.errors.push_back(input.path +
                           ": not a shard's report (no run.shard: written by `bulkhead run "
                           "--shard ... --json`?)");
    } else if (input.run.shard->shard_of.size() != input.collection.size()) {
      out.errors.push_back(input.path + ": run.shard.shard_of has " +
                           std::to_string(input.run.shard->shard_of.size()) +
                           " entries for a collection of " +
                           std::to_string(input.collection.size()));
    }
  }
  if (inputs.empty() || !out.errors.empty()) {
    out.exit_code = 3;
    return out;
  }
  std::sort(inputs.begin(), inputs.end(), [](const ShardInput& a, const ShardInput& b) {
    return a.run.shard->index < b.run.shard->index;
  });
  const ShardInput& first = inputs.front();
  const int total = first.run.shard->total;
  std::map<int, const ShardInput*> by_index;
  for (const ShardInput& input : inputs) {
    check_belongs(first, input, out.errors);
    const int index = input.run.shard->index;
    auto [it, inserted] = by_index.emplace(index, &input);
    if (!inserted) {
      out.errors.push_back(label(index, total) + " given twice: " + it->second->path + " and " +
                           input.path);
    }
  }
  if (!out.errors.empty()) {
    out.exit_code = 3;
    return out;
  }

  const std::vector<std::string>& collection = first.collection;
  const std::vector<int>& shard_of = first.run.shard->shard_of;
  std::vector<std::size_t> share(static_cast<std::size_t>(total), 0);
  for (int s : shard_of) {
    if (s >= 0 && s < total) ++share[static_cast<std::size_t>(s)];
  }
  for (int s = 0; s < total; ++s) {
    ShardSummary summary;
    summary.index = s + 1;
    summary.total = total;
    summary.tests = share[static_cast<std::size_t>(s)];
    auto it = by_index.find(s);
    if (it == by_index.end()) {
      summary.problem = "reported nothing (its report is missing)";
    } else {
      const ShardInput& input = *it->second;
      summary.source = source_of(*input.run.shard);
      summary.file = input.path;
      summary.run_id = input.run.run_id;
      summary.exit_code = input.run.exit_code;
      summary.start_time = input.run.start_time;
      summary.duration = input.run.duration;
    }
    out.shards.push_back(std::move(summary));
  }

  // Each test from the shard the split gave it; anything else is a duplicate or a stray.
  std::vector<const TestRecord*> reported(collection.size(), nullptr);
  std::vector<int> reported_by(collection.size(), -1);
  for (const ShardInput& input : inputs) {
    const int s = input.run.shard->index;
    for (const TestRecord& test : input.tests) {
      const std::string where = input.path + " (" + label(s, total) + ")";
      if (test.index >= collection.size() || collection[test.index] != test.nodeid) {
        out.errors.push_back(where + " reports " + test.nodeid + " at index " +
                             std::to_string(test.index) + ", which is not in the collection there");
        continue;
      }
      if (reported[test.index] != nullptr) {
        out.errors.push_back(test.nodeid + " is reported twice: by " + where + " and by " +
                             label(reported_by[test.index], total));
        continue;
      }
      if (shard_of[test.index] != s) {
        out.errors.push_back(where + " reports " + test.nodeid + ", which the split gave to " +
                             label(shard_of[test.index], total));
      }
      reported[test.index] = &test;
      reported_by[test.index] = s;
    }
  }
  if (!out.errors.empty()) {
    out.exit_code = 3;
    return out;
  }

  out.tests.reserve(collection.size());
  for (std::size_t i = 0; i < collection.size(); ++i) {
    const int s = shard_of[i];
    const std::string where = label(s, total);
    if (reported[i] != nullptr) {
      TestRecord test = *reported[i];
      if (test.cause == Cause::NotRun) test.cause_message += " (" + where + ")";
      // Every shard has a gw0: "2/gw0" is shard 2's, one lane each in the timeline.
      if (!test.worker.empty()) test.worker = std::to_string(s + 1) + "/" + test.worker;
      out.not_run += test.cause == Cause::NotRun || test.phases.empty();
      out.tests.push_back(std::move(test));
      continue;
    }
    TestRecord test;
    test.index = i;
    test.nodeid = collection[i];
    const ShardSummary& summary = out.shards[static_cast<std::size_t>(s)];
    record_cause(test, Cause::NotRun,
                 "not run: " + where + " " +
                     (summary.problem.empty() ? "stopped before it (its report does not have it)"
                                              : summary.problem));
    ++out.not_run;
    out.tests.push_back(std::move(test));
  }

  // The merged run: as long as its slowest shard, started with its first.
  RunInfo& run = out.run;
  run = first.run;
  run.shard.reset();
  run.run_id = "merge";
  run.workers = 0;
  run.start_time = 0;
  run.duration = 0;
  std::set<std::string> missing(run.isolation_missing.begin(), run.isolation_missing.end());
  bool interrupted = false;
  bool broken = false;
  for (const ShardInput& input : inputs) {
    run.workers += input.run.workers;
    if (run.start_time == 0 || input.run.start_time < run.start_time) {
      run.start_time = input.run.start_time;
    }
    run.duration = std::max(run.duration, input.run.duration);
    for (const std::string& m : input.run.isolation_missing) {
      if (missing.insert(m).second) run.isolation_missing.push_back(m);
    }
    interrupted |= input.run.exit_code == 2;
    broken |= input.run.exit_code == 3 || input.run.exit_code == 4;
  }
  if (broken) {
    out.exit_code = 3;
  } else if (interrupted) {
    out.exit_code = 2;
  } else if (any_failure(out.tests) || out.not_run > 0) {
    out.exit_code = 1;
  } else if (collection.empty()) {
    out.exit_code = 5;
  } else {
    out.exit_code = 0;
  }
  run.exit_code = out.exit_code;
  return out;
}

}  // namespace bulkhead

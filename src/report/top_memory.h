// The terminal's --top-memory N section, in the manner of pytest's --durations: the tests with
// the highest memory peaks, each with its growth during the test, CPU time and pids started
// (TestRecord::resources). Pure text: Terminal::summary prints it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/report/result_store.h"
#include "src/report/test_model.h"

namespace bulkhead {

// "251.2 MiB": bytes in mebibytes, one decimal.
std::string format_mebibytes(std::uint64_t bytes);

// One test's figures as the section shows them, "-" for what was not measured: its memory
// peak, its growth during the test ("+200.0 MiB": the peak above its usage at the start), its
// CPU time ("0.31s") and the processes and threads it started.
struct ResourceFigures {
  std::string peak, growth, cpu, pids;
};
ResourceFigures resource_figures(const TestResources& resources);

// The section's title ("top 5 memory peaks") and its lines: a header, then one line per test
// with a memory figure, highest peak first, at most `count` of them (0: all), then a note
// when some peaks are the sandbox's rather than the test's. Tests without one are left out;
// none at all gives one line saying why.
struct TopMemory {
  std::string title;
  std::vector<std::string> lines;
};
TopMemory top_memory(const std::vector<const TestRecord*>& tests, std::size_t count);

// The stored tests top_memory() would list, from their summaries alone, highest peak first
// (ties in `order`, the order the tests finished): the ones to load for the section.
std::vector<std::size_t> top_memory_indices(const ResultStore& store,
                                            const std::vector<std::size_t>& order,
                                            std::size_t count);

}  // namespace bulkhead

// The --top-memory section's text (see top_memory.h).
#include "src/report/top_memory.h"

#include <algorithm>
#include <cstdio>

namespace bulkhead {

std::string format_mebibytes(std::uint64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buffer;
}

namespace {

std::string padded(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string seconds(double s) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2fs", s);
  return buffer;
}

}  // namespace

ResourceFigures resource_figures(const TestResources& r) {
  ResourceFigures out{"-", "-", "-", "-"};
  if (r.memory_peak_bytes) out.peak = format_mebibytes(*r.memory_peak_bytes);
  if (r.memory_peak_bytes && r.memory_start_bytes &&
      *r.memory_peak_bytes >= *r.memory_start_bytes) {
    out.growth = "+" + format_mebibytes(*r.memory_peak_bytes - *r.memory_start_bytes);
  }
  if (r.cpu_s) out.cpu = seconds(*r.cpu_s);
  if (r.pids_started) out.pids = std::to_string(*r.pids_started);
  return out;
}

TopMemory top_memory(const std::vector<const TestRecord*>& tests, std::size_t count) {
  std::vector<const TestRecord*> measured;
  for (const TestRecord* test : tests) {
    if (test->resources && test->resources->memory_peak_bytes) measured.push_back(test);
  }
  std::stable_sort(measured.begin(), measured.end(), [](const TestRecord* a, const TestRecord* b) {
    return *a->resources->memory_peak_bytes > *b->resources->memory_peak_bytes;
  });
  if (count > 0 && measured.size() > count) measured.resize(count);

  TopMemory out;
  out.title = count > 0 ? "top " + std::to_string(count) + " memory peaks" : "memory peaks";
  if (measured.empty()) {
    out.lines.push_back("(no test has a memory figure: the run had no memory cgroup)");
    return out;
  }
  // Peak: the sandbox's, the interpreter included; growth: above its usage at the test's start.
  out.lines.push_back(padded("peak", 11) + padded("growth", 12) + padded("CPU", 9) +
                      padded("pids", 6) + "  test");
  bool sandbox_scope = false;
  for (const TestRecord* test : measured) {
    const ResourceFigures figures = resource_figures(*test->resources);
    sandbox_scope |= test->resources->memory_peak_scope == "sandbox";
    out.lines.push_back(padded(figures.peak, 11) + padded(figures.growth, 12) +
                        padded(figures.cpu, 9) + padded(figures.pids, 6) + "  " + test->nodeid);
  }
  if (sandbox_scope) {
    out.lines.push_back(
        "(peaks marked without growth are their sandbox's so far: this kernel cannot reset "
        "memory.peak per test, Linux 6.12 can)");
  }
  return out;
}

std::vector<std::size_t> top_memory_indices(const ResultStore& store,
                                            const std::vector<std::size_t>& order,
                                            std::size_t count) {
  std::vector<std::size_t> measured;
  for (std::size_t index : order) {
    if (store.contains(index) && store.summary(index).has_memory_peak) measured.push_back(index);
  }
  std::stable_sort(measured.begin(), measured.end(), [&store](std::size_t a, std::size_t b) {
    return store.summary(a).memory_peak > store.summary(b).memory_peak;
  });
  if (count > 0 && measured.size() > count) measured.resize(count);
  return measured;
}

}  // namespace bulkhead

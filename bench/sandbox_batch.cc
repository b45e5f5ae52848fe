// Benchmark (on demand): per-sandbox start cost when several sandboxes start together, as
// `bulkhead run` starts its workers, with and without cgroups. Built by `make bench`.
// usage: sandbox_batch PROFILES_DIR [SANDBOXES] [ROUNDS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace {

using Clock = std::chrono::steady_clock;

double spawn_ms_per_sandbox(const std::string& profiles, bool cgroups, int count) {
  bulkhead::sandbox::SandboxOptions options;
  options.profile = bulkhead::sandbox::load_profile("default", {profiles});
  options.run_id = "bench";
  options.use_cgroups = cgroups;
  auto sandbox = bulkhead::sandbox::Sandbox::create(options);
  std::vector<std::unique_ptr<bulkhead::sandbox::Child>> children;
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    bulkhead::sandbox::SpawnSpec spec;
    spec.name = "gw" + std::to_string(i);
    spec.argv = {"/bin/sleep", "0.2"};
    spec.env = {"PATH=/usr/bin:/bin"};
    if (const char* home = std::getenv("HOME")) spec.env.push_back(std::string("HOME=") + home);
    children.push_back(sandbox->spawn(spec));
  }
  const auto spawned = Clock::now();
  for (auto& child : children) child->wait();
  return std::chrono::duration<double, std::milli>(spawned - start).count() / count;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PROFILES_DIR [SANDBOXES] [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int count = argc > 2 ? std::atoi(argv[2]) : 8;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 9;
  std::vector<double> with, without;
  for (int round = 0; round < rounds; ++round) {  // interleaved
    without.push_back(spawn_ms_per_sandbox(argv[1], false, count));
    with.push_back(spawn_ms_per_sandbox(argv[1], true, count));
  }
  std::printf("| %d sandboxes started together (median of %d) | ms per sandbox |\n", count,
              rounds);
  std::printf("| --- | ---: |\n| without cgroups | %.2f |\n| with cgroups | %.2f |\n",
              median(without), median(with));
  std::printf("| cgroups add | %.2f |\n", median(with) - median(without));
  return 0;
}

// --retries: which failed tests run again, how, and what their attempts say. Pure logic (no
// processes): a failed test reruns alone in a fresh sandbox, up to N times; one that then
// passes on its first rerun is replayed once after the tests its sandbox ran before it. The
// verdict: *failed* (it never passed), *flaky* (it failed alone too, or the replay passed),
// *order-dependent* (it passes alone and fails again after its predecessors).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace bulkhead {

// A test as the first run ran it: where, when, and whether it failed.
struct RanTest {
  std::size_t index = 0;
  std::string worker;    // "gw1"; "" when it never ran
  int incarnation = -1;  // which sandbox of the worker
  double start = 0;      // when its first phase started (unix time)
  bool failed = false;   // failed or error (any cause but not run)
  int seq = -1;          // its position in that sandbox (the supervisor's); -1: order by start
};

// The tests that ran before `target` in the same sandbox, in the order they ran.
std::vector<std::size_t> predecessors_of(const std::vector<RanTest>& ran, std::size_t target);

enum class Verdict { Pending, Failed, Flaky, OrderDependent };
const char* verdict_name(Verdict verdict);  // "", "failed", "flaky", "order-dependent"

class RetryBook {
 public:
  // `ran`: every test of the first run; `retries`: --retries N (N >= 1).
  RetryBook(const std::vector<RanTest>& ran, int retries);

  // The failed tests to rerun alone now (one round: each at most once), collection order.
  std::vector<std::size_t> next_alone_round() const;
  void alone_result(std::size_t index, bool passed);

  // After the alone rounds: tests to replay after their predecessors, each with its sequence
  // (predecessors, then the test).
  struct Replay {
    std::size_t index = 0;
    std::vector<std::size_t> sequence;
  };
  std::vector<Replay> replays() const;
  void replay_result(std::size_t index, bool passed);

  std::vector<std::size_t> failed_tests() const;  // every test the book follows
  Verdict verdict(std::size_t index) const;
  std::size_t predecessors(std::size_t index) const;  // how many ran before it in its sandbox

 private:
  struct Entry {
    std::size_t index = 0;
    std::vector<std::size_t> sequence;  // predecessors, then the test
    int alone_runs = 0;
    int alone_failures = 0;
    bool passed_alone = false;
    std::optional<bool> replay_passed;
  };
  const Entry* find(std::size_t index) const;
  Entry* find(std::size_t index);

  int retries_;
  std::vector<Entry> entries_;  // collection order
};

}  // namespace bulkhead

// Wording of timeouts, OOM kills and crashes: what the reports say about a lost test.
#include <gtest/gtest.h>

#include <csignal>

#include "src/report/outcome.h"
#include "src/run/worker_fate.h"

namespace bulkhead {
namespace {

TEST(WorkerFate, TimeoutCarriesTheLimitAndTheStacks) {
  FateInput input;
  input.worker = "gw1";
  input.timed_out = true;
  input.test_limit_s = 5;
  input.stacks = "Thread 0x1 (most recent call first):\n  File \"t.py\", line 3 in test_x\n";
  input.exit.signaled = true;
  input.exit.term_signal = SIGKILL;
  Fate fate = describe_fate(input);
  EXPECT_EQ(fate.cause, Cause::Timeout);
  EXPECT_EQ(fate.message, "Timeout: test exceeded 5s");
  EXPECT_NE(fate.details.find("Python stacks of gw1 at the deadline:\nThread 0x1"),
            std::string::npos);
}

TEST(WorkerFate, TimeoutWithoutAnswerSaysSo) {
  FateInput input;
  input.worker = "gw0";
  input.timed_out = true;
  input.test_limit_s = 1.5;
  Fate fate = describe_fate(input);
  EXPECT_EQ(fate.message, "Timeout: test exceeded 1.5s");
  EXPECT_NE(fate.details.find("did not answer SIGUSR1"), std::string::npos);
}

TEST(WorkerFate, OomComesFromTheCgroupNotFromSigkill) {
  FateInput input;
  input.worker = "gw0";
  input.exit.signaled = true;
  input.exit.term_signal = SIGKILL;
  Fate crash = describe_fate(input);
  EXPECT_EQ(crash.cause, Cause::Crash);  // SIGKILL alone is not an OOM
  input.exit.oom_killed = true;
  input.exit.memory_limit_bytes = 512ULL << 20;
  input.exit.memory_peak_bytes = 512ULL << 20;
  Fate oom = describe_fate(input);
  EXPECT_EQ(oom.cause, Cause::OOM);
  EXPECT_EQ(oom.message, "OOM: memory limit 512 MiB exceeded (peak 512 MiB)");
}

TEST(WorkerFate, ProtocolErrorNamesTheWorkerAndWhatItSent) {
  FateInput input;
  input.worker = "gw1";
  input.exit.signaled = true;
  input.exit.term_signal = SIGKILL;
  input.protocol_error =
      "protocol error from gw1: `report` for test 2 (t.py::c), which this worker was not given";
  Fate fate = describe_fate(input);
  EXPECT_EQ(fate.cause, Cause::Crash);
  EXPECT_EQ(fate.message,
            "Protocol error from gw1: `report` for test 2 (t.py::c), which this worker was not "
            "given; the supervisor killed gw1");
  EXPECT_EQ(fate.details.rfind(fate.message, 0), 0u);
}

TEST(WorkerFate, CrashNamesSignalOrStatusAndKeepsTheStderrTail) {
  FateInput input;
  input.worker = "gw2";
  input.exit.signaled = true;
  input.exit.term_signal = SIGSEGV;
  input.stderr_tail = "Fatal Python error: Segmentation fault\n";
  input.log_path = "/tmp/bulkhead-0/run/gw2.log";
  Fate fate = describe_fate(input);
  EXPECT_EQ(fate.message, "Crash: worker gw2 killed by SIGSEGV (Segmentation fault)");
  EXPECT_NE(fate.details.find("last lines of gw2's stderr:\nFatal Python error"),
            std::string::npos);
  EXPECT_NE(fate.details.find("(full worker log: /tmp/bulkhead-0/run/gw2.log)"), std::string::npos);
  FateInput exited;
  exited.worker = "gw0";
  exited.exit.exited = true;
  exited.exit.exit_code = 3;
  exited.exit.pids_limit_hit = true;
  exited.exit.pids_limit = 64;
  EXPECT_EQ(describe_fate(exited).message,
            "Crash: worker gw0 exited with status 3 (pids limit 64 reached)");
  EXPECT_NE(describe_fate(exited).details.find("(nothing)"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead

namespace bulkhead {
namespace {

TEST(WorkerFate, StartupFailuresShownOncePerDistinctDetails) {
  std::vector<std::string> failures = {"worker gw0 exited with status 4\nusage: bad -x",
                                       "worker gw1 exited with status 4\nusage: bad -x",
                                       "worker gw2 exited with status 1\nImportError: conftest"};
  EXPECT_EQ(distinct_startup_failures(failures),
            (std::vector<std::string>{failures[0], failures[2]}));
}

TEST(Outcome, AnyFailureSeesFailedCallsAndSetupErrorsButNotSkips) {
  TestRecord passed;
  passed.phases.push_back({});
  passed.phases.back().when = "call";
  passed.phases.back().outcome = "passed";
  TestRecord skipped = passed;
  skipped.phases.back().outcome = "skipped";
  EXPECT_FALSE(any_failure({passed, skipped}));
  TestRecord setup_error;
  setup_error.phases.push_back({});
  setup_error.phases.back().when = "setup";
  setup_error.phases.back().outcome = "failed";
  EXPECT_TRUE(any_failure({passed, setup_error}));
}

}  // namespace
}  // namespace bulkhead

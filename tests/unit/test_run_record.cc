// Unit tests of run records (src/record/): the round trip through run.json and results.jsonl,
// secret hashing, SHA-256, resolving run ids, a sandbox's sequence, damaged files, pruning
// (alone and by several pruners at once).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "src/record/record_views.h"
#include "src/record/record_writer.h"
#include "src/record/run_record.h"
#include "src/record/run_recorder.h"
#include "src/record/sha256.h"
#include "src/report/outcome.h"

namespace bulkhead::record {
namespace {

namespace fs = std::filesystem;

class RecordDir : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("bulkhead-record-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    runs_ = runs_dir(root_.string());
  }
  void TearDown() override { fs::remove_all(root_); }

  static RunRecord header(const std::string& id, double start) {
    RunRecord run;
    run.run_id = id;
    run.start_time = start;
    return run;
  }
  // A finished record with no tests.
  void make_run(const std::string& id, double start) {
    RecordWriter writer(runs_, header(id, start));
    RunRecord done = header(id, start);
    done.finished = true;
    done.exit_code = 0;
    writer.update(done);
  }
  std::string results_path(const std::string& id) const {
    return (fs::path(runs_) / id / "results.jsonl").string();
  }

  fs::path root_;
  std::string runs_;
};

RecordedTest ran(std::size_t index, const std::string& worker, int sandbox, int seq,
                 const std::string& outcome = "passed") {
  RecordedTest test;
  test.index = index;
  test.nodeid = "t.py::test_" + std::to_string(index);
  test.worker = worker;
  test.sandbox = sandbox;
  test.seq = seq;
  test.outcome = outcome;
  test.start = 100 + static_cast<double>(index);
  test.stop = test.start + 0.5;
  return test;
}

TEST(Sha256, MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 55, 56 and 64 bytes: the padding's one-block and two-block edges.
  EXPECT_EQ(sha256_hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Secrets, NamesThatLookSecretHaveTheirValuesHashed) {
  for (const char* name : {"GITHUB_TOKEN", "aws_secret_access_key", "DB_PASSWORD", "PGPASSWD",
                           "API_KEY", "CREDENTIALS_FILE", "AUTH_HEADER", "COOKIE_JAR", "SESSION_ID",
                           "PRIVATE_URL", "SSH_AUTH_SOCK"}) {
    EXPECT_TRUE(looks_secret(name)) << name;
    EXPECT_EQ(recorded_value(name, "hunter2"), "sha256:" + sha256_hex("hunter2").substr(0, 16));
  }
  for (const char* name : {"PATH", "HOME", "PYTHONHASHSEED", "LANG", "PYTEST_XDIST_WORKER"}) {
    EXPECT_FALSE(looks_secret(name)) << name;
    EXPECT_EQ(recorded_value(name, "/usr/bin"), "/usr/bin");
  }
  // The same value hashes the same (a later run can tell whether it changed), without showing it.
  EXPECT_EQ(recorded_value("TOKEN", "abc"), "sha256:ba7816bf8f01cfea");
}

TEST_F(RecordDir, RoundTripsEveryField) {
  RunRecord run = header("0123abcd", 1700000000.25);
  run.bulkhead_version = "0.1.0";
  run.python = "/usr/bin/python3";
  run.python_version = "3.11.2";
  run.pytest_version = "7.2.1";
  run.argv = {"/usr/bin/bulkhead", "run", "-n", "2", "tests/", "-k", "not slow"};
  run.cwd = "/src/project";
  run.rootdir = "/src/project";
  run.git_commit = "95c1e4e0d6a1";
  run.pytest_args = {"tests/", "-k", "not slow"};
  run.profile = "default";
  run.profile_path = "/usr/share/bulkhead/profiles/default.json";
  run.limits.memory_bytes = 512ull << 20;
  run.limits.pids = 256;
  run.limits.test_timeout_s = 60;
  run.settings = {2, "load", "zygote", "worker", 5.0, 1};
  run.env = {{"PATH", "/usr/bin"}, {"API_TOKEN", recorded_value("API_TOKEN", "s3cret")}};
  run.worker_env = {{"gw0", {{"PYTEST_XDIST_WORKER", "gw0"}}},
                    {"gw1", {{"PYTEST_XDIST_WORKER", "gw1"}, {"PATH", "/opt/bin"}}}};
  run.seeds = {{"randomly", "12345"}};
  run.counts = {{"passed", 2}, {"failed", 1}};
  run.collected = 3;
  RecordedTest crash = ran(2, "gw1", 0, 1, "failed");
  crash.cause = "crash";
  crash.cause_message = "Crash: worker 'gw1' killed by signal 11 (SIGSEGV)\n\"quoted\" \xff";
  RecordedTest retried = ran(2, "gw0", 0, 0, "passed");
  retried.attempt = 1;
  retried.kind = "alone";
  retried.resources = TestResources{0.25, "rusage", std::nullopt, std::nullopt, "", 0};
  RecordedTest never;
  never.index = 3;
  never.nodeid = "t.py::never";
  never.outcome = "notrun";
  never.cause = "notrun";
  RecordedTest measured = ran(0, "gw0", 0, 0);
  measured.resources = TestResources{1.5, "cgroup", 300ull << 20, 100ull << 20, "test", 5};
  {
    RecordWriter writer(runs_, run);
    for (const RecordedTest& test : {measured, ran(1, "gw1", 0, 0), crash, never, retried}) {
      writer.append(test);
    }
    run.finished = true;
    run.exit_code = 1;
    run.duration = 3.5;
    writer.update(run);
  }
  const RunRecord back = read_run(runs_, "0123abcd");
  EXPECT_EQ(back.dir, (fs::path(runs_) / "0123abcd").string());
  EXPECT_EQ(back.run_id, run.run_id);
  EXPECT_DOUBLE_EQ(back.start_time, run.start_time);
  EXPECT_DOUBLE_EQ(back.duration, 3.5);
  EXPECT_EQ(back.exit_code, 1);
  EXPECT_TRUE(back.finished);
  EXPECT_EQ(back.bulkhead_version, "0.1.0");
  EXPECT_EQ(back.python, run.python);
  EXPECT_EQ(back.python_version, "3.11.2");
  EXPECT_EQ(back.pytest_version, "7.2.1");
  EXPECT_EQ(back.argv, run.argv);
  EXPECT_EQ(back.cwd, run.cwd);
  EXPECT_EQ(back.rootdir, run.rootdir);
  EXPECT_EQ(back.git_commit, run.git_commit);
  EXPECT_EQ(back.pytest_args, run.pytest_args);
  EXPECT_EQ(back.profile, "default");
  EXPECT_EQ(back.profile_path, run.profile_path);
  EXPECT_EQ(back.limits.memory_bytes, run.limits.memory_bytes);
  EXPECT_FALSE(back.limits.cpus);
  EXPECT_EQ(back.limits.pids, run.limits.pids);
  EXPECT_FALSE(back.limits.nofile);
  EXPECT_EQ(back.limits.test_timeout_s, 60.0);
  EXPECT_EQ(back.settings.workers, 2);
  EXPECT_EQ(back.settings.dist, "load");
  EXPECT_EQ(back.settings.mode, "zygote");
  EXPECT_EQ(back.settings.isolate, "worker");
  EXPECT_EQ(back.settings.timeout_s, 5.0);
  EXPECT_EQ(back.settings.retries, 1);
  EXPECT_EQ(back.env, run.env);
  EXPECT_EQ(back.env.at("API_TOKEN").rfind("sha256:", 0), 0u);
  EXPECT_EQ(back.worker_env, run.worker_env);
  EXPECT_EQ(worker_env(back, "gw1").at("PATH"), "/opt/bin");
  EXPECT_EQ(worker_env(back, "gw0").at("PATH"), "/usr/bin");
  EXPECT_EQ(back.seeds, run.seeds);
  EXPECT_EQ(back.counts, run.counts);
  EXPECT_EQ(back.collected, 3u);
  ASSERT_EQ(back.tests.size(), 5u);
  EXPECT_EQ(back.tests[2].cause, "crash");
  EXPECT_EQ(back.tests[2].cause_message.substr(0, 48),
            "Crash: worker 'gw1' killed by signal 11 (SIGSEGV");
  EXPECT_EQ(back.tests[2].worker, "gw1");
  EXPECT_EQ(back.tests[2].seq, 1);
  EXPECT_DOUBLE_EQ(back.tests[2].start, 102);
  EXPECT_DOUBLE_EQ(back.tests[2].stop, 102.5);
  EXPECT_EQ(back.tests[3].worker, "");
  EXPECT_EQ(back.tests[3].sandbox, -1);
  EXPECT_EQ(back.tests[4].attempt, 1);
  EXPECT_EQ(back.tests[4].kind, "alone");
  EXPECT_EQ(back.tests[0].kind, "run");
  // Resources: every field back; what was not measured stays absent.
  ASSERT_TRUE(back.tests[0].resources);
  const TestResources& cost = *back.tests[0].resources;
  EXPECT_EQ(cost.cpu_s, 1.5);
  EXPECT_EQ(cost.cpu_source, "cgroup");
  EXPECT_EQ(cost.memory_peak_bytes, 300ull << 20);
  EXPECT_EQ(cost.memory_start_bytes, 100ull << 20);
  EXPECT_EQ(cost.memory_peak_scope, "test");
  EXPECT_EQ(cost.pids_started, 5u);
  ASSERT_TRUE(back.tests[4].resources);
  EXPECT_EQ(back.tests[4].resources->cpu_s, 0.25);
  EXPECT_FALSE(back.tests[4].resources->memory_peak_bytes);
  EXPECT_FALSE(back.tests[4].resources->memory_start_bytes);
  EXPECT_EQ(back.tests[4].resources->memory_peak_scope, "");
  EXPECT_EQ(back.tests[4].resources->pids_started, 0u);  // measured: none started
  EXPECT_FALSE(back.tests[1].resources);
  EXPECT_FALSE(back.tests[3].resources);
  EXPECT_EQ(result_line(back.tests[1]).find("resources"), std::string::npos);
  // The run itself answers for a node id, not its retries.
  EXPECT_EQ(find_recorded_test(back, "t.py::test_2"), &back.tests[2]);
  EXPECT_EQ(find_recorded_test(back, "t.py::nope"), nullptr);
  // git ignores the records.
  std::ifstream ignore(root_ / ".bulkhead" / ".gitignore");
  std::string text((std::istreambuf_iterator<char>(ignore)), {});
  EXPECT_NE(text.find("\n*\n"), std::string::npos);
}

TEST_F(RecordDir, AnUnfinishedRunReadsWithWhatItFlushed) {
  RecordWriter writer(runs_, header("live", 5));
  writer.append(ran(0, "gw0", 0, 0));
  EXPECT_TRUE(read_run(runs_, "live").tests.empty());  // buffered until a flush
  writer.flush();
  writer.append(ran(1, "gw0", 0, 1));
  const RunRecord back = read_run(runs_, "live");
  EXPECT_FALSE(back.finished);
  EXPECT_EQ(back.exit_code, -1);
  ASSERT_EQ(back.tests.size(), 1u);
  EXPECT_EQ(back.tests[0].index, 0u);
}

TEST_F(RecordDir, AWriterWritesWhatItBufferedWhenItEnds) {
  {
    RecordWriter writer(runs_, header("ended", 5));
    for (std::size_t i = 0; i < 3; ++i) writer.append(ran(i, "gw0", 0, static_cast<int>(i)));
  }
  EXPECT_EQ(read_run(runs_, "ended").tests.size(), 3u);
}

TEST(SandboxSequence, IsWhatThatSandboxRanUpToTheTestInOrder) {
  RunRecord run;
  // gw0's first sandbox ran 0, 2, 4; it was replaced and its second ran 6, 7; gw1 ran 1, 3, 5.
  // Lines come in end order, which is not run order across workers.
  run.tests = {ran(1, "gw1", 0, 0),           ran(0, "gw0", 0, 0), ran(2, "gw0", 0, 1),
               ran(4, "gw0", 0, 2, "failed"), ran(3, "gw1", 0, 1), ran(6, "gw0", 1, 0),
               ran(5, "gw1", 0, 2),           ran(7, "gw0", 1, 1)};
  RecordedTest again = ran(4, "gw0", 0, 0);  // a retry of test 4, alone: its own sandbox
  again.attempt = 1;
  again.kind = "alone";
  run.tests.push_back(again);
  auto indices = [&](const std::string& nodeid) {
    std::vector<std::size_t> out;
    for (const RecordedTest* test : sandbox_sequence(run, *find_recorded_test(run, nodeid))) {
      out.push_back(test->index);
    }
    return out;
  };
  EXPECT_EQ(indices("t.py::test_4"), (std::vector<std::size_t>{0, 2, 4}));
  EXPECT_EQ(indices("t.py::test_2"), (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(indices("t.py::test_7"), (std::vector<std::size_t>{6, 7}));
  EXPECT_EQ(indices("t.py::test_5"), (std::vector<std::size_t>{1, 3, 5}));
  EXPECT_EQ(sandbox_sequence(run, run.tests.back()).size(), 1u);
  RecordedTest never;
  never.nodeid = "t.py::never";
  EXPECT_TRUE(sandbox_sequence(run, never).empty());
}

TEST_F(RecordDir, RunsListNewestFirstAndResolveByUniquePrefix) {
  EXPECT_TRUE(list_runs(runs_).empty());
  EXPECT_THROW(resolve_run(runs_, ""), RecordError);
  make_run("aa11", 10);
  make_run("aa22", 30);
  make_run("bb33", 20);
  EXPECT_EQ(list_runs(runs_), (std::vector<std::string>{"aa22", "bb33", "aa11"}));
  EXPECT_EQ(resolve_run(runs_, ""), "aa22");
  EXPECT_EQ(resolve_run(runs_, "b"), "bb33");
  EXPECT_EQ(resolve_run(runs_, "aa11"), "aa11");
  try {
    resolve_run(runs_, "aa");
    FAIL() << "ambiguous prefix resolved";
  } catch (const RecordError& error) {
    EXPECT_NE(std::string(error.what()).find("ambiguous"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("aa11"), std::string::npos);
  }
  try {
    resolve_run(runs_, "zz");
    FAIL() << "unknown run resolved";
  } catch (const RecordError& error) {
    EXPECT_NE(std::string(error.what()).find("'zz'"), std::string::npos);
  }
}

TEST_F(RecordDir, DamagedFilesAreNamedWithTheirLineAndField) {
  make_run("bad", 1);
  const std::string results = results_path("bad");
  auto message = [&] {
    try {
      read_run(runs_, "bad");
    } catch (const RecordError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  std::ofstream(results) << result_line(ran(0, "gw0", 0, 0)) << "{not json\n"
                         << result_line(ran(1, "gw0", 0, 1));
  EXPECT_NE(message().find(results + ":2: not valid JSON"), std::string::npos) << message();
  std::ofstream(results) << result_line(ran(0, "gw0", 0, 0)) << "{\"index\": 1, \"nodeid\": 7}\n";
  EXPECT_NE(message().find(results + ":2: field 'nodeid': expected a string"), std::string::npos)
      << message();
  std::ofstream(results) << "{\"index\": 1, \"nodeid\": \"t\", \"outcome\": \"passed\", "
                            "\"resources\": {\"memory_peak_bytes\": -3}}\n";
  EXPECT_NE(message().find(
                results + ":1: field 'resources.memory_peak_bytes': expected a count of 0 or more"),
            std::string::npos)
      << message();
  std::ofstream(results) << "{\"index\": 1, \"nodeid\": \"t\", \"outcome\": \"passed\", "
                            "\"resources\": [1]}\n";
  EXPECT_NE(message().find(results + ":1: field 'resources': expected an object"),
            std::string::npos)
      << message();
  // A last line cut off without its newline (bulkhead died while writing it) is dropped.
  std::ofstream(results) << result_line(ran(0, "gw0", 0, 0)) << "{\"index\": 1, \"nod";
  EXPECT_EQ(read_run(runs_, "bad").tests.size(), 1u);
  std::ofstream(results) << "";
  const std::string run_json = (fs::path(runs_) / "bad" / "run.json").string();
  std::ofstream(run_json) << "{\"format\": 1, \"run_id\": \"bad\", \"argv\": \"run\"}";
  EXPECT_NE(message().find(run_json + ": field 'argv': expected a list of strings"),
            std::string::npos)
      << message();
  std::ofstream(run_json) << "{\"format\": 99, \"run_id\": \"bad\"}";
  EXPECT_NE(message().find("field 'format'"), std::string::npos) << message();
  std::ofstream(run_json) << "[1, 2";
  EXPECT_NE(message().find(run_json + ": not valid JSON"), std::string::npos) << message();
  EXPECT_NE(std::string([&] {
              try {
                read_run(runs_, "missing");
              } catch (const RecordError& error) {
                return std::string(error.what());
              }
              return std::string();
            }())
                .find("missing/run.json: cannot read"),
            std::string::npos);
}

TEST_F(RecordDir, PruningKeepsTheNewestAndRunsStillGoing) {
  for (int i = 0; i < 6; ++i) make_run("old" + std::to_string(i), i);
  // The oldest of all is still running: its writer holds it.
  RecordWriter running(runs_, header("running", 0.5));
  const std::vector<std::string> removed = prune_runs(runs_, 3);
  EXPECT_EQ(std::set<std::string>(removed.begin(), removed.end()),
            (std::set<std::string>{"old0", "old1", "old2"}));
  EXPECT_EQ(list_runs(runs_), (std::vector<std::string>{"old5", "old4", "old3", "running"}));
}

TEST_F(RecordDir, PruningRemovesWhatKilledRunsLeftBehind) {
  make_run("kept", 1);
  const fs::path making = fs::path(runs_) / ".new-dead";             // its bulkhead died making it
  const fs::path young = fs::path(runs_) / ".new-young";             // being made right now
  const fs::path pruning = fs::path(runs_) / ".pruned-999999999-x";  // its pruner died
  for (const fs::path& dir : {making, young, pruning}) fs::create_directories(dir / "sub");
  fs::last_write_time(making, fs::file_time_type::clock::now() - std::chrono::minutes(5));
  prune_runs(runs_, 5);
  EXPECT_FALSE(fs::exists(making));
  EXPECT_FALSE(fs::exists(pruning));
  EXPECT_TRUE(fs::exists(young));
  EXPECT_EQ(list_runs(runs_), std::vector<std::string>{"kept"});
}

TEST_F(RecordDir, SeveralPrunersAtOnceRemoveEachRecordOnce) {
  for (int i = 0; i < 40; ++i) make_run("r" + std::to_string(i), i);
  std::vector<std::vector<std::string>> removed(6);
  std::vector<std::thread> pruners;
  for (auto& out : removed) {
    pruners.emplace_back([&out, this] { out = prune_runs(runs_, 5); });
  }
  for (auto& pruner : pruners) pruner.join();
  std::multiset<std::string> all;
  for (const auto& ids : removed) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), 35u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 35u);  // each once
  EXPECT_EQ(list_runs(runs_), (std::vector<std::string>{"r39", "r38", "r37", "r36", "r35"}));
  for (const auto& entry : fs::directory_iterator(runs_)) {
    EXPECT_EQ(entry.path().filename().string().rfind(".pruned", 0), std::string::npos);
  }
}

}  // namespace
}  // namespace bulkhead::record

namespace bulkhead::record {
namespace {

TEST(PortableArgv, MakesProjectPathsRelativeToTheCwd) {
  const std::vector<std::string> argv = {"/usr/local/bin/bulkhead",
                                         "run",
                                         "/src/proj/tests/test_a.py",
                                         "--json=/src/proj/out.json",
                                         "--json=/elsewhere/out.json",
                                         "/src/projector/x",
                                         "-k",
                                         "/src/proj"};
  EXPECT_EQ(portable_argv(argv, "/src/proj", "/src/proj/sub"),
            (std::vector<std::string>{"/usr/local/bin/bulkhead", "run", "../tests/test_a.py",
                                      "--json=../out.json", "--json=/elsewhere/out.json",
                                      "/src/projector/x", "-k", ".."}));
}

TEST(RecordedTestOf, TakesWhereAndWhenFromTheSupervisorsRecord) {
  TestRecord test;
  test.index = 3;
  test.nodeid = "t.py::x";
  test.worker = "gw1";
  test.sandbox = 2;
  test.seq = 7;
  PhaseReport setup;
  setup.when = "setup";
  setup.outcome = "passed";
  setup.start = 10;
  setup.stop = 10.5;
  PhaseReport call = setup;
  call.when = "call";
  call.outcome = "failed";
  call.start = 10.5;
  call.stop = 12;
  test.phases = {setup, call};
  RecordedTest line = recorded_test(test);
  EXPECT_EQ(line.worker, "gw1");
  EXPECT_EQ(line.sandbox, 2);
  EXPECT_EQ(line.seq, 7);
  EXPECT_EQ(line.outcome, "failed");
  EXPECT_FALSE(line.resources);
  test.resources = TestResources{0.5, "cgroup", 64ull << 20, 60ull << 20, "test", 2};
  line = recorded_test(test);
  ASSERT_TRUE(line.resources);
  EXPECT_EQ(line.resources->memory_peak_bytes, 64ull << 20);
  EXPECT_EQ(line.resources->pids_started, 2u);
  EXPECT_DOUBLE_EQ(line.start, 10);
  EXPECT_DOUBLE_EQ(line.stop, 12);
  record_cause(test, Cause::NotRun, "not run: interrupted");
  line = recorded_test(test);
  EXPECT_EQ(line.worker, "");  // a test never run has no place
  EXPECT_EQ(line.sandbox, -1);
  EXPECT_EQ(line.cause, "notrun");
}

TEST(RecordViews, ShowNamesWhereATestRanAndWhatRanBeforeIt) {
  RunRecord run;
  run.run_id = "abc123";
  for (int i = 0; i < 8; ++i)
    run.tests.push_back(ran(i, "gw0", 1, i, i == 7 ? "failed" : "passed"));
  run.tests[7].cause = "timeout";
  run.tests[7].cause_message = "Timeout: test exceeded 5s\nstack...";
  const std::string text = test_view(run, run.tests[7], 3);
  EXPECT_NE(text.find("t.py::test_7  FAILED (timeout)\n  Timeout: test exceeded 5s\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ran in: gw0, sandbox #1, position 7 (7 tests before it"), std::string::npos)
      << text;
  EXPECT_NE(text.find("the last 3 before it:\n  4. t.py::test_4  passed\n  5. t.py::test_5"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("t.py::test_3"), std::string::npos);
  EXPECT_EQ(text.find("resources:"), std::string::npos);  // none measured: no line
  run.tests[7].resources = TestResources{0.31, "cgroup", 251ull << 20, 51ull << 20, "test", 5};
  EXPECT_NE(test_view(run, run.tests[7], 3)
                .find("resources: memory peak 251.0 MiB (+200.0 MiB during the test), CPU 0.31s "
                      "(cgroup), 5 pids started\n"),
            std::string::npos)
      << test_view(run, run.tests[7], 3);
  run.tests[7].resources =
      TestResources{std::nullopt, "", 80ull << 20, std::nullopt, "sandbox", std::nullopt};
  EXPECT_NE(test_view(run, run.tests[7], 3)
                .find("resources: memory peak 80.0 MiB (its sandbox's peak so far)\n"),
            std::string::npos)
      << test_view(run, run.tests[7], 3);
  EXPECT_NE(text.find("reproduce: bulkhead repro t.py::test_7 --run abc123\n"), std::string::npos);
  // Its retries: alone in a fresh sandbox, then replayed after two of its predecessors.
  RecordedTest alone = ran(7, "gw0", 0, 0, "passed");
  alone.attempt = 1;
  alone.kind = "alone";
  run.tests.push_back(alone);
  for (int i = 5; i < 8; ++i) {
    RecordedTest replayed = ran(i, "gw1", 0, i - 5, i == 7 ? "failed" : "passed");
    replayed.attempt = 2;
    replayed.kind = "replay";
    if (i == 7) {
      replayed.cause = "timeout";
      replayed.cause_message = "Timeout: test exceeded 5s\nstack...";
    }
    run.tests.push_back(replayed);
  }
  const std::string retried = test_view(run, run.tests[7], 3);
  EXPECT_NE(retried.find("retry 1 (alone): PASSED in gw0, 0.50s\n"
                         "retry 2 (replay after 2 tests): FAILED (timeout) in gw1, 0.50s\n"
                         "  Timeout: test exceeded 5s\n"),
            std::string::npos)
      << retried;
  // Only its own retries, not the predecessors replayed with it.
  EXPECT_EQ(retried.find("retry", retried.find("retry 2") + 1), std::string::npos) << retried;
  run.finished = true;
  run.counts = {{"passed", 7}, {"failed", 1}, {"timeout", 1}};
  EXPECT_EQ(counts_text(run), "1 failed, 7 passed, 1 timeout");
  const std::string summary = run_summary(run, false);
  EXPECT_NE(summary.find("  gw0 #1: 8 tests"), std::string::npos) << summary;
  EXPECT_NE(summary.find("ended by timeout in t.py::test_7"), std::string::npos) << summary;
}

}  // namespace
}  // namespace bulkhead::record

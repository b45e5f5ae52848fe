// Unit tests for the host side: pytest's cache written by the supervisor, write-through paths,
// the new channel events, and where the terminal puts plugin sections and plugin categories.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sandbox/error.h"
#include "sandbox/profile.h"
#include "src/cli/run_options.h"
#include "src/host/host_session.h"
#include "src/host/pytest_cache.h"
#include "src/host/write_through.h"
#include "src/report/terminal.h"
#include "src/run/protocol.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

PhaseReport phase(const std::string& when, const std::string& outcome) {
  PhaseReport out;
  out.when = when;
  out.outcome = outcome;
  return out;
}

TestRecord record(const std::string& nodeid, std::vector<PhaseReport> phases) {
  TestRecord out;
  out.nodeid = nodeid;
  out.phases = std::move(phases);
  return out;
}

std::string slurp(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("bulkhead-host-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(PytestCache, LastFailedFollowsPytestsRules) {
  const nlohmann::json before = {{"t.py::was_failing_now_passes", true},
                                 {"t.py::was_failing_not_run", true},
                                 {"broken.py", true}};
  const std::vector<TestRecord> records = {
      record("t.py::was_failing_now_passes",
             {phase("setup", "passed"), phase("call", "passed"), phase("teardown", "passed")}),
      record("t.py::fails", {phase("setup", "passed"), phase("call", "failed")}),
      record("t.py::setup_error", {phase("setup", "failed")}),
      record("t.py::passes_then_teardown_fails",
             {phase("setup", "passed"), phase("call", "passed"), phase("teardown", "failed")}),
      record("t.py::skipped", {phase("setup", "skipped")}),
      record("t.py::flaky", {phase("call", "rerun"), phase("call", "passed")}),
      record("t.py::was_failing_not_run", {}),
  };
  const nlohmann::json after = updated_lastfailed(before, ResultStore::from(records));
  EXPECT_EQ(after, (nlohmann::json{{"t.py::was_failing_not_run", true},
                                   {"broken.py", true},
                                   {"t.py::fails", true},
                                   {"t.py::setup_error", true},
                                   {"t.py::passes_then_teardown_fails", true}}));
}

TEST_F(TempDir, PytestCacheIsWrittenWithItsSupportFiles) {
  protocol::PytestCacheFacts facts;
  facts.dir = (dir_ / ".pytest_cache").string();
  facts.lastfailed = nlohmann::json::object();
  const std::vector<TestRecord> records = {record("t.py::a", {phase("call", "failed")})};
  EXPECT_TRUE(
      write_pytest_cache(facts, ResultStore::from(records), {"t.py::b", "t.py::a"}).empty());
  const fs::path values = dir_ / ".pytest_cache" / "v" / "cache";
  EXPECT_EQ(slurp(values / "lastfailed"), "{\n  \"t.py::a\": true\n}");
  EXPECT_EQ(slurp(values / "nodeids"), "[\n  \"t.py::a\",\n  \"t.py::b\"\n]");
  EXPECT_EQ(slurp(values / "stepwise"), "[]");
  EXPECT_EQ(slurp(dir_ / ".pytest_cache" / ".gitignore").find('*') != std::string::npos, true);
  EXPECT_EQ(slurp(dir_ / ".pytest_cache" / "CACHEDIR.TAG")
                .rfind("Signature: 8a477f597d28d172789f06886806bc55\n", 0),
            0u);
  // The next run: node ids accumulate; an unchanged last-failed set is not rewritten.
  fs::remove(values / "lastfailed");
  std::ofstream(values / "lastfailed") << "{\"t.py::a\": true}";
  facts.lastfailed = nlohmann::json{{"t.py::a", true}};
  facts.stepwise = true;
  fs::remove(values / "stepwise");
  EXPECT_TRUE(write_pytest_cache(facts, ResultStore::from(records), {"t.py::c"}).empty());
  EXPECT_EQ(slurp(values / "lastfailed"), "{\"t.py::a\": true}");
  EXPECT_EQ(slurp(values / "nodeids"), "[\n  \"t.py::a\",\n  \"t.py::b\",\n  \"t.py::c\"\n]");
  EXPECT_FALSE(fs::exists(values / "stepwise"));  // --sw: the host session's to write
}

TEST_F(TempDir, PytestCacheProblemsAreReportedNotThrown) {
  std::ofstream(dir_ / "file") << "x";
  protocol::PytestCacheFacts facts;
  facts.dir = (dir_ / "file" / ".pytest_cache").string();  // under a regular file
  const auto problems = write_pytest_cache(facts, ResultStore(), {"t.py::a"});
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("could not create pytest's cache path"), std::string::npos);
}

TEST_F(TempDir, WriteThroughCreatesMissingPathsAndRemovesThemWhenEmpty) {
  fs::create_directories(dir_ / "kept");
  {
    const WriteThrough through(dir_.string(), {}, {"kept", "new/deeper", ".hypothesis", "kept"});
    ASSERT_EQ(through.binds().size(), 3u);
    EXPECT_EQ(through.binds()[1].source, (dir_ / "new" / "deeper").string());
    EXPECT_EQ(through.binds()[1].target, through.binds()[1].source);
    EXPECT_FALSE(through.binds()[1].read_only);
    EXPECT_TRUE(fs::is_directory(dir_ / "new" / "deeper"));
    std::ofstream(dir_ / ".hypothesis" / "example") << "x";
    EXPECT_TRUE(through.problems().empty());
  }
  EXPECT_TRUE(fs::exists(dir_ / "kept"));                     // not ours
  EXPECT_FALSE(fs::exists(dir_ / "new"));                     // ours and empty
  EXPECT_TRUE(fs::exists(dir_ / ".hypothesis" / "example"));  // written to: kept
  std::ofstream(dir_ / "plain") << "x";
  const WriteThrough blocked(dir_.string(), {}, {"plain/sub"});
  EXPECT_TRUE(blocked.binds().empty());
  ASSERT_EQ(blocked.problems().size(), 1u);
  EXPECT_NE(blocked.problems()[0].find("write-through plain/sub: cannot create"),
            std::string::npos);
}

TEST_F(TempDir, WriteThroughBindsAProfilesPathOnlyWhenItExists) {
  fs::create_directories(dir_ / "present");
  const WriteThrough through(dir_.string(), {".hypothesis", "present", "named"}, {"named"});
  ASSERT_EQ(through.binds().size(), 2u);
  EXPECT_EQ(through.binds()[0].source, (dir_ / "named").string());    // named: created
  EXPECT_EQ(through.binds()[1].source, (dir_ / "present").string());  // the profile's, present
  EXPECT_FALSE(fs::exists(dir_ / ".hypothesis"));                     // the profile's, missing
  EXPECT_TRUE(through.problems().empty());
}

TEST(WriteThroughPaths, OnlyRelativePathsInsideTheProject) {
  EXPECT_FALSE(sandbox::write_through_problem(".hypothesis"));
  EXPECT_FALSE(sandbox::write_through_problem("tests/snapshots"));
  EXPECT_TRUE(sandbox::write_through_problem(""));
  EXPECT_TRUE(sandbox::write_through_problem("/etc"));
  EXPECT_TRUE(sandbox::write_through_problem("../outside"));
  EXPECT_TRUE(sandbox::write_through_problem("a/../../b"));
}

TEST(HostEvents, DecodedAndForwarded) {
  using namespace protocol;
  const Event need =
      decode_event(R"({"event":"need_controller","reasons":["pytest-cov","--sw"],"wait":true})");
  const auto& typed = std::get<NeedControllerEvent>(need);
  EXPECT_EQ(typed.reasons, (std::vector<std::string>{"pytest-cov", "--sw"}));
  EXPECT_TRUE(typed.wait);
  EXPECT_THROW(decode_event(R"({"event":"need_controller","reasons":[1]})"), ProtocolError);
  const Event output = decode_event(R"({"event":"workeroutput","data":{"exitstatus":0}})");
  EXPECT_TRUE(host_wants(output));
  EXPECT_FALSE(host_wants(need));
  EXPECT_FALSE(host_wants(decode_event(R"({"event":"done"})")));
  EXPECT_EQ(encode_workerinput(R"({"workerid":"gw0"})"),
            "{\"cmd\":\"workerinput\",\"data\":{\"workerid\":\"gw0\"}}\n");
  const Event collected = decode_event(
      R"({"event":"collected","protocol":1,"pid":1,"items":[],"deselected":0,)"
      R"("header":["rootdir: /p","plugins: cov-4.0.0"],"collection_lines":["run-last-failure: x"],)"
      R"("cache":{"dir":"/p/.pytest_cache","lastfailed":{"t.py::a":true},"collectonly":false,)"
      R"("stepwise":true},"settings":{}})");
  const auto& facts = std::get<CollectedEvent>(collected);
  EXPECT_EQ(facts.header_lines.size(), 2u);
  EXPECT_EQ(facts.collection_lines, (std::vector<std::string>{"run-last-failure: x"}));
  ASSERT_TRUE(facts.cache.has_value());
  EXPECT_EQ(facts.cache->dir, "/p/.pytest_cache");
  EXPECT_TRUE(facts.cache->stepwise);
  EXPECT_EQ(*facts.cache->lastfailed, (nlohmann::json{{"t.py::a", true}}));
}

std::string rendered(const std::function<void(Terminal&)>& draw) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    Terminal terminal(out, TerminalOptions{});
    draw(terminal);
  }
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST(TerminalHost, HeaderLinesPluginSectionsAndPluginCategories) {
  const std::string header = rendered([](Terminal& terminal) {
    terminal.collected(2, 0, 0, {"rootdir: /p", "host session: pytest-cov (...)"},
                       {"run-last-failure: rerun previous 2 failures"});
  });
  EXPECT_EQ(header,
            "rootdir: /p\nhost session: pytest-cov (...)\ncollected 2 items\n"
            "run-last-failure: rerun previous 2 failures\n\n");
  TestRecord flaky = record("t.py::flaky", {});
  flaky.phases.push_back(phase("call", "rerun"));
  flaky.phases.back().category = "rerun";
  flaky.phases.push_back(phase("call", "passed"));
  TestRecord failed = record("t.py::bad", {phase("call", "failed")});
  failed.phases.back().message = "assert 1 == 2";
  SummaryInput input;
  input.tests = {{&flaky, nullptr}, {&failed, nullptr}};
  input.plugin_sections = "\n---------- coverage: platform linux ----------\nTOTAL 75%\n";
  input.duration_s = 1;
  const std::string summary = rendered([&](Terminal& terminal) { terminal.summary(input); });
  const auto failures = summary.find("= FAILURES =");
  const auto coverage = summary.find("---------- coverage:");
  const auto short_summary = summary.find("short test summary info");
  ASSERT_NE(coverage, std::string::npos) << summary;
  EXPECT_LT(failures, coverage);
  EXPECT_LT(coverage, short_summary);
  EXPECT_NE(summary.find(" 1 failed, 1 passed, 1 rerun in 1.00s "), std::string::npos) << summary;
}

RunOptions parse_in(const fs::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "run");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return parse_run_options(static_cast<int>(argv.size()), argv.data(), dir.string());
}

TEST_F(TempDir, ControllerAndWriteThroughOptions) {
  std::ofstream(dir_ / "pyproject.toml")
      << "[tool.pytest-bulkhead]\ncontroller = \"off\"\nwrite_through = [\"snapshots\", \"out\"]\n";
  const RunOptions options =
      parse_in(dir_, {"--write-through", "a/b", "--write-through=c", "--controller", "on", "-x"});
  EXPECT_EQ(options.controller, "on");  // the flag wins
  EXPECT_EQ(options.write_through, (std::vector<std::string>{"snapshots", "out", "a/b", "c"}));
  EXPECT_EQ(options.pytest_args, (std::vector<std::string>{"-x"}));
  EXPECT_THROW(parse_in(dir_, {"--controller", "maybe"}), UserError);
  try {
    parse_in(dir_, {"--write-through", "../up"});
    FAIL() << "accepted ../up";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("--write-through"), std::string::npos);
  }
  std::ofstream(dir_ / "pyproject.toml") << "[tool.pytest-bulkhead]\nwrite_through = [\"/etc\"]\n";
  try {
    parse_in(dir_, {});
    FAIL() << "accepted /etc";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("pyproject.toml:2:18: write_through"),
              std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(inspect_pytest_args({"--cache-show"}).cache_show);
  EXPECT_TRUE(inspect_pytest_args({"--cache-show=cache/*"}).cache_show);
  EXPECT_FALSE(inspect_pytest_args({"--cache-clear"}).cache_show);
}

TEST_F(TempDir, ProfileWriteThroughField) {
  std::ofstream(dir_ / "p.json")
      << R"({"extends": "default", "mounts": {"write_through": ["x", "y/z"]}})";
  const sandbox::Profile profile =
      sandbox::load_profile((dir_ / "p.json").string(), {BULKHEAD_SOURCE_DIR "/profiles"});
  EXPECT_EQ(profile.mounts.write_through, (std::vector<std::string>{"x", "y/z"}));
  const sandbox::Profile shipped =
      sandbox::load_profile("default", {BULKHEAD_SOURCE_DIR "/profiles"});
  EXPECT_EQ(shipped.mounts.write_through, (std::vector<std::string>{".hypothesis"}));
  std::ofstream(dir_ / "bad.json") << R"({"mounts": {"write_through": ["ok", "../no"]}})";
  try {
    sandbox::load_profile((dir_ / "bad.json").string(), {});
    FAIL() << "accepted ../no";
  } catch (const sandbox::ProfileError& error) {
    EXPECT_EQ(error.json_path(), "$.mounts.write_through[1]");
  }
}

}  // namespace
}  // namespace bulkhead

// repro and bisect, pure parts: the verdicts, the trial a replay's outcome is, the commands
// printed (the recorded command line with --replay before any `--`, quoted for a shell), and
// the environment differences named (secret values compared by hash, bulkhead's own and the
// shell's bookkeeping ignored).
#include <gtest/gtest.h>

#include "src/diagnose/bisect.h"
#include "src/diagnose/env_diff.h"
#include "src/diagnose/repro.h"
#include "src/record/record_views.h"
#include "src/record/run_record.h"

namespace bulkhead {
namespace {

TEST(Repro, Verdicts) {
  EXPECT_EQ(repro_verdict(true, true), ReproVerdict::Consistent);
  EXPECT_EQ(repro_verdict(false, true), ReproVerdict::Consistent);
  EXPECT_EQ(repro_verdict(true, false), ReproVerdict::OrderDependent);
  EXPECT_EQ(repro_verdict(false, false), ReproVerdict::Flaky);
}

TEST(Bisect, TrialOfAReplay) {
  auto trial = [](const char* outcome) {
    ReplayOutcome replay;
    replay.outcome = outcome;
    return trial_of(replay);
  };
  EXPECT_EQ(trial("failed"), Trial::Fails);
  EXPECT_EQ(trial("error"), Trial::Fails);
  EXPECT_EQ(trial("passed"), Trial::Passes);
  EXPECT_EQ(trial("skipped"), Trial::Passes);
  EXPECT_EQ(trial(""), Trial::Unresolved);  // it did not run
}

TEST(ReplayCommand, InsertsTheReplayBeforeAnyDoubleDash) {
  ReplayTarget target;
  target.argv = {"bulkhead", "run", "-n", "4", "tests/", "--", "-k", "not slow"};
  target.worker = "gw2";
  EXPECT_EQ(
      replay_command(target, "/r/seq.txt"),
      (std::vector<std::string>{"bulkhead", "run", "-n", "4", "tests/", "--replay", "/r/seq.txt",
                                "--replay-worker", "gw2", "--", "-k", "not slow"}));
  target.argv = {"/opt/bin/bulkhead", "run"};
  target.extra_args = {"--randomly-seed=7"};
  EXPECT_EQ(replay_command(target, "s"),
            (std::vector<std::string>{"/opt/bin/bulkhead", "run", "--replay", "s",
                                      "--replay-worker", "gw2", "--randomly-seed=7"}));
}

TEST(ReplayCommand, PrintedCommandsQuoteWhatTheShellWouldReadOtherwise) {
  EXPECT_EQ(
      record::quoted_command({"bulkhead", "run", "-k", "not slow", "t.py::test[a b]", "it's", ""}),
      "bulkhead run -k 'not slow' 't.py::test[a b]' 'it'\\''s' ''");
  EXPECT_EQ(record::quoted_command({"t.py::test_x", "--json=/tmp/r.json", "a,b@c%d+e"}),
            "t.py::test_x --json=/tmp/r.json a,b@c%d+e");
}

TEST(EnvDiff, NamesChangedUnsetAndNewVariables) {
  const std::map<std::string, std::string> recorded = {
      {"HOME", "/root"},
      {"LANG", "C.UTF-8"},
      {"GONE", "x"},
      {"BULKHEAD_WORKER", "gw1"},
      {"APP_DB", "app_gw1"},
      {"PYTHONPATH", "/plugin:/src"},
      {"API_TOKEN", record::recorded_value("API_TOKEN", "s3cret")},
      {"OLDPWD", "/root"}};
  const std::map<std::string, std::string> now = {{"HOME", "/root"},
                                                  {"LANG", "en_US.UTF-8"},
                                                  {"NEW", "1"},
                                                  {"APP_DB", "whatever"},
                                                  {"PYTHONPATH", "/src"},
                                                  {"API_TOKEN", "s3cret"},
                                                  {"PYTEST_XDIST_WORKER", "gw9"},
                                                  {"OLDPWD", "/elsewhere"},
                                                  {"SHLVL", "3"}};
  const auto differences = env_differences(recorded, now, {"APP_DB"});
  EXPECT_EQ(describe_env_differences(differences), "GONE (unset now), LANG (changed), NEW (new)");
  auto rotated = now;
  rotated["API_TOKEN"] = "other";
  rotated["PYTHONPATH"] = "/elsewhere";
  EXPECT_EQ(describe_env_differences(env_differences(recorded, rotated, {"APP_DB"})),
            "API_TOKEN (changed), GONE (unset now), LANG (changed), NEW (new), PYTHONPATH "
            "(changed)");
}

TEST(EnvDiff, ThePluginDirectoryAloneIsNoPythonpath) {
  EXPECT_TRUE(env_differences({{"PYTHONPATH", "/plugin"}}, {}, {}).empty());
  EXPECT_TRUE(env_differences({{"PYTHONPATH", "/plugin"}}, {{"PYTHONPATH", ""}}, {}).empty());
}

}  // namespace
}  // namespace bulkhead

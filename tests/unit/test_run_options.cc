// Unit tests for `bulkhead run` option parsing and [tool.pytest-bulkhead] in pyproject.toml.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sandbox/error.h"
#include "sandbox/profile.h"
#include "src/cli/option_values.h"
#include "src/cli/run_options.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

class RunOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("bulkhead-run-options-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunOptions parse(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    return parse_run_options(static_cast<int>(argv.size()), argv.data(), dir_.string());
  }

  void write_pyproject(const std::string& text) { std::ofstream(dir_ / "pyproject.toml") << text; }

  fs::path dir_;
};

TEST_F(RunOptionsTest, PytestArgsPassThroughInOrder) {
  const RunOptions options =
      parse({"-n", "4", "tests/", "-k", "not slow", "-x", "--timeout", "5", "-rA", "-vv"});
  ASSERT_TRUE(options.workers.has_value());
  EXPECT_EQ(*options.workers, 4);
  ASSERT_TRUE(options.timeout_s.has_value());
  EXPECT_DOUBLE_EQ(*options.timeout_s, 5);
  EXPECT_EQ(options.pytest_args,
            (std::vector<std::string>{"tests/", "-k", "not slow", "-x", "-rA", "-vv"}));
}

TEST_F(RunOptionsTest, DoubleDashEndsBulkheadOptions) {
  const RunOptions options = parse({"--memory", "512M", "--", "--timeout", "3", "-n", "2"});
  EXPECT_EQ(options.memory_bytes, uint64_t{512} << 20);
  EXPECT_FALSE(options.timeout_s.has_value());
  EXPECT_FALSE(options.workers.has_value());
  EXPECT_EQ(options.pytest_args, (std::vector<std::string>{"--timeout", "3", "-n", "2"}));
}

TEST_F(RunOptionsTest, AllOptions) {
  const RunOptions options = parse({"-n",
                                    "auto",
                                    "--profile",
                                    "strict",
                                    "--cpus",
                                    "1.5",
                                    "--pids",
                                    "64",
                                    "--nofile",
                                    "256",
                                    "--session-timeout",
                                    "2m",
                                    "--dist",
                                    "loadgroup",
                                    "--junitxml",
                                    "j.xml",
                                    "--json",
                                    "r.json",
                                    "--python",
                                    "/usr/bin/python3",
                                    "--max-worker-restart",
                                    "3",
                                    "--require-isolation",
                                    "--color",
                                    "yes",
                                    "--output-cap",
                                    "64K"});
  EXPECT_FALSE(options.workers.has_value());
  EXPECT_EQ(options.profile, "strict");
  EXPECT_DOUBLE_EQ(*options.cpus, 1.5);
  EXPECT_EQ(*options.pids, 64u);
  EXPECT_EQ(*options.nofile, 256u);
  EXPECT_DOUBLE_EQ(*options.session_timeout_s, 120);
  EXPECT_EQ(options.dist, DistMode::LoadGroup);
  EXPECT_EQ(options.junitxml, "j.xml");
  EXPECT_EQ(options.json_path, "r.json");
  EXPECT_EQ(options.python, "/usr/bin/python3");
  EXPECT_EQ(*options.max_worker_restart, 3);
  EXPECT_TRUE(options.require_isolation);
  EXPECT_EQ(options.color, "yes");
  EXPECT_EQ(options.output_cap_bytes, uint64_t{64} << 10);
  EXPECT_TRUE(options.pytest_args.empty());
}

TEST_F(RunOptionsTest, BadValuesNameTheOption) {
  EXPECT_THROW(parse({"-n", "zero"}), UserError);
  EXPECT_THROW(parse({"--dist", "random"}), UserError);
  EXPECT_THROW(parse({"--memory", "lots"}), UserError);
  EXPECT_THROW(parse({"--color", "sometimes"}), UserError);
  try {
    parse({"--timeout", "soon"});
    FAIL();
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("--timeout"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("soon"), std::string::npos);
  }
}

TEST_F(RunOptionsTest, PyprojectIsReadAndFlagsWin) {
  write_pyproject(
      "[project]\nname = \"x\"\n\n[tool.pytest-bulkhead]\nnumprocesses = 3\nmemory = \"1G\"\n"
      "timeout = 30\ndist = \"loadfile\"\nmax-worker-restart = 2\n");
  const RunOptions options = parse({"-n", "2"});
  EXPECT_EQ(*options.workers, 2);  // the flag wins
  EXPECT_EQ(*options.memory_bytes, uint64_t{1} << 30);
  EXPECT_DOUBLE_EQ(*options.timeout_s, 30);
  EXPECT_EQ(options.dist, DistMode::LoadFile);
  EXPECT_EQ(*options.max_worker_restart, 2);
  EXPECT_EQ(options.config_file, (dir_ / "pyproject.toml").string());
}

TEST_F(RunOptionsTest, PyprojectErrorsNameFileLineAndColumn) {
  write_pyproject("[tool.pytest-bulkhead]\nnumprocesses = 2\nbogus_key = 1\n");
  try {
    parse({});
    FAIL();
  } catch (const UserError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("pyproject.toml:3:"), std::string::npos) << what;
    EXPECT_NE(what.find("bogus_key"), std::string::npos) << what;
  }
  write_pyproject("[tool.pytest-bulkhead]\ndist = \"sideways\"\n");
  try {
    parse({});
    FAIL();
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("pyproject.toml:2:"), std::string::npos);
  }
  write_pyproject("[tool.pytest-bulkhead\nx = 1\n");
  try {
    parse({});
    FAIL();
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("pyproject.toml:1:"), std::string::npos)
        << error.what();
  }
}

TEST_F(RunOptionsTest, PyprojectTextReadsAsTheFileDoes) {
  const std::string text = "[tool.pytest-bulkhead]\nnumprocesses = 3\nmemory = \"1G\"\nbogus = 1\n";
  write_pyproject(text);
  const std::string path = (dir_ / "pyproject.toml").string();
  std::string from_file, from_text;
  RunOptions a, b;
  try {
    apply_pyproject(path, a);
  } catch (const UserError& error) {
    from_file = error.what();
  }
  try {
    apply_pyproject_text(text, path, b);
  } catch (const UserError& error) {
    from_text = error.what();
  }
  EXPECT_EQ(from_text, from_file);
  EXPECT_EQ(from_text, path + ":4:9: unknown key 'bogus' in [tool.pytest-bulkhead]");
  RunOptions c;
  apply_pyproject_text("[tool.pytest-bulkhead]\ndist = \"loadscope\"\nnumprocesses = 3\n",
                       "mem.toml", c);
  EXPECT_EQ(c.dist, DistMode::LoadScope);
  EXPECT_EQ(c.workers, std::optional<int>(3));
  EXPECT_EQ(c.config_file, "mem.toml");
  try {
    apply_pyproject_text("[tool.pytest-bulkhead\n", "mem.toml", c);
    FAIL();
  } catch (const UserError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("mem.toml:1:", 0), 0u) << error.what();
  }
}

TEST(Pyproject, NonAsciiWhereWhitespaceMayBeIsDefined) {
  // Regression (found by fuzz_pyproject): toml++ 3.3.0 reached __builtin_unreachable() asking
  // whether these characters are whitespace (src/cli/toml.h). A valid document stays valid...
  RunOptions options;
  EXPECT_NO_THROW(apply_pyproject_text("s = \"\"\"\\\n\xc2\xa7\"\"\"\n", "p.toml", options));
  // ...and an invalid one is an error naming the place, as any other.
  try {
    apply_pyproject_text("\xEF\xBB\xBB=", "p.toml", options);
    FAIL();
  } catch (const UserError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("p.toml:1:1: ", 0), 0u) << error.what();
  }
}

TEST(InspectPytestArgs, VerbosityCaptureAndRandomly) {
  EXPECT_EQ(inspect_pytest_args({"-vv"}).verbosity, 2);
  EXPECT_EQ(inspect_pytest_args({"-q"}).verbosity, -1);
  EXPECT_EQ(inspect_pytest_args({"-k", "-v"}).verbosity, 0);  // a -k value, not a flag
  EXPECT_TRUE(inspect_pytest_args({"-s"}).capture_disabled);
  EXPECT_TRUE(inspect_pytest_args({"--capture=no"}).capture_disabled);
  EXPECT_TRUE(inspect_pytest_args({"-p", "no:randomly"}).randomly_disabled);
  EXPECT_TRUE(inspect_pytest_args({"--randomly-seed=3"}).has_randomly_seed);
}

TEST_F(RunOptionsTest, ServiceOptionsOnTheCommandLine) {
  const RunOptions options =
      parse({"--forward", "5432", "tests/", "--forward=auto", "--worker-setup", "createdb {worker}",
             "--worker-teardown", "dropdb {worker}", "--setup", "make db", "--teardown", "true",
             "--setup-timeout", "2m", "-x"});
  EXPECT_EQ(options.forwards, (std::vector<std::string>{"5432", "auto"}));
  EXPECT_EQ(options.forwards_origin, "--forward");
  EXPECT_EQ(options.worker_setup, "createdb {worker}");
  EXPECT_EQ(options.worker_teardown, "dropdb {worker}");
  EXPECT_EQ(options.setup, "make db");
  EXPECT_EQ(options.teardown, "true");
  EXPECT_EQ(options.setup_timeout_s, 120);
  EXPECT_EQ(options.pytest_args, (std::vector<std::string>{"tests/", "-x"}));
}

TEST_F(RunOptionsTest, ServiceOptionsInPyprojectAndFlagsWin) {
  std::ofstream(dir_ / "pyproject.toml") << "[tool.pytest-bulkhead]\n"
                                            "forward = [\"5432\", \"auto\"]\n"
                                            "worker-setup = \"createdb app_{worker}\"\n"
                                            "setup_timeout = \"30s\"\n";
  const RunOptions from_file = parse({});
  EXPECT_EQ(from_file.forwards, (std::vector<std::string>{"5432", "auto"}));
  EXPECT_EQ(from_file.forwards_origin, (dir_ / "pyproject.toml").string() + " forward");
  EXPECT_EQ(from_file.worker_setup, "createdb app_{worker}");
  EXPECT_EQ(from_file.setup_timeout_s, 30);
  const RunOptions flags = parse({"--forward", "6379", "--worker-setup", "true"});
  EXPECT_EQ(flags.forwards, (std::vector<std::string>{"6379"}));
  EXPECT_EQ(flags.worker_setup, "true");

  std::ofstream(dir_ / "pyproject.toml") << "[tool.pytest-bulkhead]\nforward = [5432]\n";
  try {
    parse({});
    FAIL();
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("pyproject.toml:2:12: forward: expected each spec "
                        "as a string"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(RunOptionsTest, ProfileNetworkForwardsAndServices) {
  std::ofstream(dir_ / "p.json") << R"({"network": {"mode": "none", "forward": ["auto", "6379"]},
    "services": {"worker_setup": "createdb app_{worker}", "teardown": "true", "timeout": "1m"}})";
  const sandbox::Profile profile = sandbox::load_profile((dir_ / "p.json").string(), {});
  EXPECT_EQ(profile.forwards, (std::vector<std::string>{"auto", "6379"}));
  EXPECT_EQ(profile.services.worker_setup, "createdb app_{worker}");
  EXPECT_EQ(profile.services.teardown, "true");
  EXPECT_EQ(profile.services.timeout_s, 60);
  std::ofstream(dir_ / "bad.json") << R"({"network": {"forwards": ["auto"]}})";
  try {
    sandbox::load_profile((dir_ / "bad.json").string(), {});
    FAIL();
  } catch (const sandbox::ProfileError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("$.network.forwards: unknown key (did you mean \"forward\"?)"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace bulkhead

namespace bulkhead {
namespace {

TEST(ImageOption, DirPathIsAnAbsoluteRootFilesystem) {
  char tmpl[] = "/tmp/bulkhead-image-XXXXXX";
  std::filesystem::path root = ::mkdtemp(tmpl);
  auto message = [](const std::string& value) {
    try {
      parse_image(value);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("docker:debian").find("expected dir:PATH"), std::string::npos);
  EXPECT_NE(message("dir:").find("expected dir:PATH"), std::string::npos);
  EXPECT_NE(message("dir:" + root.string() + "/missing").find("is not a directory"),
            std::string::npos);
  EXPECT_NE(message("dir:" + root.string()).find("has no usr/"), std::string::npos);
  std::filesystem::create_directory(root / "usr");
  EXPECT_EQ(parse_image("dir:" + root.string() + "/"), root.string());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace bulkhead

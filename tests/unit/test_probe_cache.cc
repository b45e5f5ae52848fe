// Unit tests of the interpreter probe cache: an answer holds while the interpreter, its sys.path
// directories, its user site and the steering environment are unchanged, and not a moment
// longer.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "src/python/probe_cache.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

class ProbeCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/bulkhead-probe-cache-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    python_ = root_ / "bin" / "python3";
    fs::create_directories(python_.parent_path());
    std::ofstream(python_) << "#!/bin/sh\n";
    fs::create_directories(root_ / "lib");
    fs::create_directories(root_ / "site-packages");
    // In the past, so that a change made within the file system's clock tick still shows.
    fs::last_write_time(root_ / "site-packages",
                        fs::file_time_type::clock::now() - std::chrono::hours(1));
    ::unsetenv("PYTHONPATH");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string output() const {
    return nlohmann::json({{"executable", python_.string()},
                           {"version", "3.11.2"},
                           {"prefix", root_.string()},
                           {"path", {(root_ / "lib").string(), (root_ / "site-packages").string()}},
                           {"pytest", ""},
                           {"user_site", (root_ / "user-site").string()}})
        .dump();
  }
  std::string file() const { return (root_ / "cache" / "python-probes.json").string(); }

  fs::path root_;
  fs::path python_;
};

TEST_F(ProbeCacheTest, AnAnswerHoldsUntilSomethingItDependsOnChanges) {
  ProbeCache cache(file());
  EXPECT_FALSE(cache.find(python_.string()));
  cache.store(python_.string(), output());
  EXPECT_EQ(cache.find(python_.string()), output());
  EXPECT_FALSE(cache.find("/usr/bin/python3")) << "another interpreter";

  // A package installed into a sys.path directory.
  std::ofstream(root_ / "site-packages" / "pytest.pth") << "\n";
  EXPECT_FALSE(cache.find(python_.string()));
  cache.store(python_.string(), output());
  EXPECT_TRUE(cache.find(python_.string()));

  // The user site appearing (pip install --user).
  fs::create_directories(root_ / "user-site");
  EXPECT_FALSE(cache.find(python_.string()));
  cache.store(python_.string(), output());
  EXPECT_TRUE(cache.find(python_.string()));

  // The interpreter replaced.
  fs::remove(python_);
  std::ofstream(python_) << "#!/bin/sh\n# another\n";
  EXPECT_FALSE(cache.find(python_.string()));
  cache.store(python_.string(), output());
  EXPECT_TRUE(cache.find(python_.string()));

  // A venv's configuration appearing beside the prefix.
  std::ofstream(root_ / "pyvenv.cfg") << "include-system-site-packages = true\n";
  EXPECT_FALSE(cache.find(python_.string()));
  cache.store(python_.string(), output());

  // PYTHONPATH steers sys.path.
  ::setenv("PYTHONPATH", "/elsewhere", 1);
  EXPECT_FALSE(cache.find(python_.string()));
  ::unsetenv("PYTHONPATH");
  EXPECT_TRUE(cache.find(python_.string()));
}

TEST_F(ProbeCacheTest, SavedAnswersAreReadBackAndADamagedFileIsIgnored) {
  {
    ProbeCache cache(file());
    cache.store(python_.string(), output());
    cache.save();
  }
  EXPECT_EQ(ProbeCache(file()).find(python_.string()), output());
  for (const char* damaged : {"", "{", "[1, 2]", "{\"format\": 1, \"entries\": [1]}",
                              "{\"format\": 1, \"entries\": {\"x\": {\"stamps\": 3}}}",
                              "{\"format\": 99, \"entries\": {}}"}) {
    std::ofstream(file()) << damaged;
    EXPECT_FALSE(ProbeCache(file()).find(python_.string())) << damaged;
  }
  // No temporary file is left beside it.
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(file()).parent_path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(ProbeCacheTest, OnlyTheMostRecentAnswersAreKept) {
  {
    ProbeCache cache(file());
    for (int i = 0; i < 40; ++i) cache.store("/x/python" + std::to_string(i), output());
    cache.store(python_.string(), output());
    cache.save();
  }
  std::ifstream in(file());
  const auto doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc["entries"].size(), 32u);
  EXPECT_TRUE(doc["entries"].contains(python_.string()));
}

TEST_F(ProbeCacheTest, AMissingHomeIsNotMade) {
  const fs::path home = root_ / "missing-home";
  ProbeCache cache((home / ".cache" / "bulkhead" / "python-probes.json").string());
  cache.store(python_.string(), output());
  cache.save();
  EXPECT_FALSE(fs::exists(home));
  // With the home there, its cache directory is made.
  fs::create_directory(home);
  cache.save();
  EXPECT_TRUE(fs::exists(home / ".cache" / "bulkhead" / "python-probes.json"));
}

TEST_F(ProbeCacheTest, WithoutAFileNothingIsKept) {
  ProbeCache cache("");
  cache.store(python_.string(), output());
  EXPECT_FALSE(cache.find(python_.string()));
  cache.save();
  EXPECT_FALSE(fs::exists(file()));
}

TEST(ProbeCachePlace, FollowsXdgThenHome) {
  const std::string home = ::getenv("HOME") ? ::getenv("HOME") : "";
  ::setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(ProbeCache::default_file(), "/x/cache/bulkhead/python-probes.json");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/h", 1);
  EXPECT_EQ(ProbeCache::default_file(), "/h/.cache/bulkhead/python-probes.json");
  ::setenv("HOME", "relative", 1);
  EXPECT_EQ(ProbeCache::default_file(), "");
  ::setenv("HOME", home.c_str(), 1);
}

}  // namespace
}  // namespace bulkhead

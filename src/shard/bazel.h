// Bazel's test contract for a `bazel test` that runs bulkhead (through `--shard auto`): the
// shard status file is touched (this test shards), the premature-exit file exists from start
// until a normal end (so Bazel sees a run that died), the JUnit report goes to XML_OUTPUT_FILE
// and bulkhead's run directory under TEST_TMPDIR.
#pragma once

#include <string>

#include "src/shard/shard_spec.h"

namespace bulkhead {

class BazelTestRun {
 public:
  // Touches TEST_SHARD_STATUS_FILE and creates TEST_PREMATURE_EXIT_FILE (each when set).
  // Throws SysError naming the file.
  explicit BazelTestRun(BazelContract contract);
  // Removes the premature-exit file: bulkhead ends as it meant to, whatever its exit status
  // (a SIGKILL leaves it, and Bazel reports the test as ended prematurely).
  ~BazelTestRun();
  BazelTestRun(const BazelTestRun&) = delete;
  BazelTestRun& operator=(const BazelTestRun&) = delete;

  const std::string& xml_output_file() const { return contract_.xml_output_file; }
  const std::string& tmpdir() const { return contract_.tmpdir; }

 private:
  BazelContract contract_;
};

}  // namespace bulkhead

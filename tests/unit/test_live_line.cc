// Unit tests of the live status line (--progress line): its text at the tail and before, its
// width limit, the ETA from expected durations, and how the Terminal draws and erases it around
// pytest's progress letters.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "src/report/live_line.h"
#include "src/report/terminal.h"
#include "src/run/progress.h"

namespace bulkhead {
namespace {

std::size_t columns(const std::string& text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

TEST(LiveLine, ShortDurations) {
  EXPECT_EQ(short_duration(0.42), "0.4s");
  EXPECT_EQ(short_duration(12.9), "12s");
  EXPECT_EQ(short_duration(65), "1m05s");
  EXPECT_EQ(short_duration(3 * 3600 + 120), "3h02m");
}

TEST(LiveLine, BeforeTheTailCountsRunningTestsAndNamesTheLongest) {
  LiveStatus status;
  status.done = 900;
  status.total = 2000;
  status.eta_s = 65;
  status.running = {{"gw1", "tests/test_api.py::test_slow", 12.5},
                    {"gw0", "tests/test_api.py::test_fast", 0.2}};
  EXPECT_EQ(live_line(status, 120),
            "[ 45%] 900/2000 | ETA 1m05s | 2 running, longest tests/test_api.py::test_slow 12s "
            "(gw1)");
}

TEST(LiveLine, AtTheTailNamesEveryRunningTestWithoutAnEstimate) {
  LiveStatus status;
  status.done = 1998;
  status.total = 2000;
  status.queue_empty = true;
  status.eta_s = 3;
  status.failed = true;
  status.running = {{"gw3", "tests/test_db.py::test_migrate[pg]", 95},
                    {"gw1", "tests/test_io.py::TestFile::test_read", 4}};
  EXPECT_EQ(live_line(status, 200),
            "[ 99%] 1998/2000 failed | waiting on 2: tests/test_db.py::test_migrate[pg] 1m35s "
            "(gw3), tests/test_io.py::TestFile::test_read 4.0s (gw1)");
  // Narrower: the names lose their files and classes, then entries give way to "+N more",
  // then the one left loses its head.
  EXPECT_EQ(live_line(status, 100),
            "[ 99%] 1998/2000 failed | waiting on 2: test_migrate[pg] 1m35s (gw3), test_read "
            "4.0s (gw1)");
  EXPECT_EQ(live_line(status, 80),
            "[ 99%] 1998/2000 failed | waiting on 2: test_migrate[pg] 1m35s (gw3), +1 more");
  const std::string narrow = live_line(status, 60);
  EXPECT_EQ(narrow, "[ 99%] 1998/2000 failed | waiting on 2: ...[pg] 1m35s (gw3)");
  EXPECT_LE(columns(narrow), 59u);
}

TEST(LiveLine, NeverWiderThanTheTerminalLessOne) {
  LiveStatus status;
  status.done = 5;
  status.total = 10;
  status.queue_empty = true;
  status.running = {{"gw0", std::string(300, 'x') + "::test_é", 1}};
  for (int width : {20, 40, 80, 100}) {
    EXPECT_LE(columns(live_line(status, width)), static_cast<std::size_t>(width - 1)) << width;
  }
}

TEST(LiveProgress, EtaFromExpectedDurationsOverTheWorkers) {
  std::FILE* sink = std::tmpfile();
  Terminal terminal(sink, {});
  LiveProgress progress(terminal, true);
  const auto start = LiveProgress::Clock::now();
  progress.plan({}, {10, 10, 10, 10}, 2, start);
  progress.finished(0);
  // Left: test 1 running for 4 s of its 10, tests 2 and 3 queued: (6 + 10 + 10) / 2.
  EXPECT_DOUBLE_EQ(*progress.eta(start, 1, 4, {1}, {4.0}), 13.0);
  // Without expectations: the rate so far (1 test in 2 s, 3 left).
  LiveProgress rate(terminal, true);
  rate.plan({}, {}, 2, start);
  EXPECT_FALSE(rate.eta(start + std::chrono::seconds(2), 0, 4, {}, {}));
  EXPECT_DOUBLE_EQ(*rate.eta(start + std::chrono::seconds(2), 1, 4, {}, {}), 6.0);
  std::fclose(sink);
}

std::string contents(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file)) > 0;) {
    text.append(buffer, got);
  }
  return text;
}

TEST(Terminal, LiveLineSitsBelowTheLettersAndIsErasedBeforeAnyOutput) {
  std::FILE* out = std::tmpfile();
  Terminal terminal(out, {});
  TestRecord test;
  test.nodeid = "t.py::test_a";
  PhaseReport call;
  call.when = "call";
  call.outcome = "passed";
  call.letter = ".";
  test.phases.push_back(call);
  terminal.test_finished(test, 1, 3);  // "." on the progress row
  terminal.show_live("[ 33%] 1/3");    // below it
  terminal.show_live("[ 33%] 1/3");    // unchanged: nothing written
  terminal.show_live("[ 34%] 1/3");    // redrawn in place
  terminal.test_finished(test, 2, 3);  // erased, back to the letters' row, "."
  terminal.show_live("[ 66%] 2/3");
  terminal.line("a line");  // erased; the progress row ends; the line
  EXPECT_EQ(contents(out),
            ".\n[ 33%] 1/3\r\x1b[K[ 34%] 1/3\r\x1b[K\x1b[A\x1b[2G.\n[ 66%] 2/3\r\x1b[K\x1b[A\x1b[3G"
            "\na line\n");
  EXPECT_FALSE(terminal.live_shown());
  std::fclose(out);
}

}  // namespace
}  // namespace bulkhead

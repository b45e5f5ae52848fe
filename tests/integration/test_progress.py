"""Progress (--progress) and stacks on demand: the live status line on a real terminal (a pty),
erased before every line of pytest's output and drawn again below it, so the screen at the end
reads as the plain output does; the tail names the test still running; `t` typed on the
terminal and SIGUSR1 sent to bulkhead print the running test's live Python stack, and the run
goes on to its normal end. Off a terminal, the output is pytest's plain progress."""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

from helpers import BULKHEAD, SYSTEM_PYTHON, copy_suite, leaked_cgroups, run_bulkhead

COLUMNS = 100


class Screen:
    """The few VT100 moves the live line uses, applied to rows of text: CR, LF, erase to end
    of line (ESC[K), up (ESC[A) and column (ESC[nG); SGR colours ignored."""

    def __init__(self):
        self.rows = [[]]
        self.row = 0
        self.col = 0

    def feed(self, text):
        for match in re.finditer(r"\x1b\[([0-9;]*)([A-Za-z])|\r|\n|[^\x1b\r\n]", text):
            token = match.group(0)
            if token == "\r":
                self.col = 0
            elif token == "\n":
                self.row += 1
                while len(self.rows) <= self.row:
                    self.rows.append([])
            elif match.group(2) == "K":
                del self.rows[self.row][self.col:]
            elif match.group(2) == "A":
                self.row = max(self.row - 1, 0)
            elif match.group(2) == "G":
                self.col = int(match.group(1) or 1) - 1
            elif match.group(2):
                continue  # colours
            else:
                line = self.rows[self.row]
                while len(line) < self.col:
                    line.append(" ")
                if self.col < len(line):
                    line[self.col] = token
                else:
                    line.append(token)
                self.col += 1

    def lines(self):
        text = ["".join(row).rstrip() for row in self.rows]
        while text and not text[-1]:
            text.pop()
        return text


class PtyRun:
    """`bulkhead run` with a pty as its controlling terminal (stdin, stdout, stderr)."""

    def __init__(self, args, cwd):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
        env = dict(os.environ)
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("CI", None)
        env.pop("COLUMNS", None)
        env["TERM"] = "xterm"
        self.process = subprocess.Popen(
            [BULKHEAD, "run", "--python", SYSTEM_PYTHON, "--color", "no", *args],
            cwd=str(cwd), env=env, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.output = ""

    def read_until(self, predicate, timeout=120):
        deadline = time.monotonic() + timeout
        while not predicate(self.output):
            left = deadline - time.monotonic()
            assert left > 0, "timed out; output so far:\n" + self.output[-3000:]
            ready, _, _ = select.select([self.master], [], [], min(left, 1))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the other side closed
                    data = b""
                if not data:
                    assert predicate(self.output), "ended; output:\n" + self.output[-3000:]
                    return
                self.output += data.decode(errors="replace")

    def finish(self, timeout=120):
        """Reads to the end of the output (EOF once bulkhead and its children closed the pty),
        then returns the exit status."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "did not end; output so far:\n" + self.output[-3000:]
            ready, _, _ = select.select([self.master], [], [], min(left, 1))
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the other side closed
                data = b""
            if not data:
                break
            self.output += data.decode(errors="replace")
        os.close(self.master)
        return self.process.wait(timeout=30)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def released(suite):
    with open(os.path.join(suite, "signals", "release"), "w") as marker:
        marker.write("go\n")


def wait_started(suite, timeout=120):
    path = os.path.join(suite, "signals", "started")
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "the held test never started"
        time.sleep(0.05)


def normalized(lines):
    """Lines from `collected` on, with the run's duration left out."""
    start = next(i for i, line in enumerate(lines) if line.startswith("collected "))
    return [re.sub(r" in [0-9.]+s ", " in Ns ", line) for line in lines[start:]]


def test_live_line_on_a_terminal_names_the_tail_and_leaves_the_plain_output(tmp_path):
    suite = copy_suite("progress", tmp_path)
    # One worker: the held test (last collected) is then the only one left at the tail.
    run = PtyRun(["-n", "1", "--write-through", "signals"], suite)
    try:
        wait_started(suite)
        # Every quick test done, the held one left: the line names it, its worker and time.
        run.read_until(lambda out: re.search(
            r"\[ 96%\] 30/31 \| waiting on 1: test_zz_held\.py::test_held [0-9.]+s \(gw[01]\)", out))
        # `t` on the terminal: the running test and its live stack; the run goes on.
        os.write(run.master, b"t")
        run.read_until(lambda out: "the run goes on" in out)
        report = run.output[run.output.index("1 running test"):]
        assert re.search(r"gw0 test_zz_held\.py::test_held \(running for [0-9.]+s\)", report)
        assert "in held_in_sleeping_function" in report, report
        released(suite)
        assert run.finish() == 0
    finally:
        run.kill()
    # Nothing was drawn on top of pytest's lines: the screen reads as the plain run's output
    # (with the report of `t` where it was asked for).
    screen = Screen()
    screen.feed(run.output)
    lines = normalized(screen.lines())
    report_start = next(i for i, line in enumerate(lines) if "1 running test" in line)
    report_end = next(i for i, line in enumerate(lines) if "the run goes on" in line)
    shown = lines[:report_start] + lines[report_end + 1:]
    assert shown[:-1] == [
        "collected 31 items",
        "",
        "." * 30,  # ended where the report of `t` began
        "." + " " * (COLUMNS - 8) + "[100%]",
    ], "\n".join(shown)
    assert re.fullmatch(r"=+ 31 passed in Ns =+", shown[-1]), shown[-1]
    assert "\x1b[K" in run.output  # the line was drawn and erased
    assert leaked_cgroups() == []


def test_sigusr1_prints_the_running_stack_and_the_run_ends_normally(tmp_path):
    suite = copy_suite("progress", tmp_path)
    env = dict(os.environ, COLUMNS="80")
    env.pop("PYTEST_ADDOPTS", None)
    process = subprocess.Popen(
        [BULKHEAD, "run", "--python", SYSTEM_PYTHON, "--color", "no", "-n", "2",
         "--write-through", "signals"],
        cwd=suite, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_started(suite)
        process.send_signal(signal.SIGUSR1)
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "the run goes on" in line:
                break
        released(suite)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "the run goes on" in output, output
    # The other worker may be in a quick test at that moment: it is listed too.
    heading = re.search(r"= [12] running tests? =", output)
    assert heading, output
    report = output[heading.start():output.index("the run goes on")]
    assert re.search(r"gw[01] test_zz_held\.py::test_held \(running for [0-9.]+s\)", report)
    assert 'in held_in_sleeping_function' in report, report
    assert "\x1b" not in output  # no live line off a terminal
    assert re.search(r"= 31 passed in [0-9.]+s =", output), output
    assert leaked_cgroups() == []


def test_plain_and_off_off_a_terminal(tmp_path):
    suite = copy_suite("progress", tmp_path)
    released(suite)
    auto = run_bulkhead("-n", "2", "--write-through", "signals", cwd=suite)
    plain = run_bulkhead("-n", "2", "--write-through", "signals", "--progress", "plain",
                         cwd=suite)
    off = run_bulkhead("-n", "2", "--write-through", "signals", "--progress", "off", cwd=suite)
    for result in (auto, plain, off):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "\x1b" not in result.stdout
    assert normalized(auto.stdout.splitlines()) == normalized(plain.stdout.splitlines())
    assert "." * 31 + " " * 42 + "[100%]" in plain.stdout.splitlines()
    # off: pytest's classic style, the letters without the percentage column.
    assert "%]" not in off.stdout
    assert "." * 31 in off.stdout.splitlines()
    assert normalized(off.stdout.splitlines())[-1] == normalized(plain.stdout.splitlines())[-1]
    bad = run_bulkhead("--progress", "fancy", cwd=suite)
    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "--progress" in bad.stderr and "fancy" in bad.stderr

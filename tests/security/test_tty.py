"""The terminal: `bulkhead exec` runs under a pseudo-terminal that is its controlling terminal,
as under a user's shell. The command must not push input into it (TIOCSTI, the bubblewrap
CVE-2017-5226 class), set a console selection (TIOCLINUX), hold or open it (it gets a pty of
its own), or read what the user types for the shell while it is stopped (^Z) or in the
background; ^C typed on the terminal must still interrupt it, and a REPL must stay usable.
Every run is bounded by a deadline."""
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import termios
import time

import pytest

ROOTLESS = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _under_terminal(command, cwd, keys=b"", after=b"", timeout=20, terminal=None):
    """Runs `command` as a session leader with a new pty (or `terminal`, from pty.openpty())
    as its controlling terminal; types `keys` once `after` has appeared. Returns (exit status,
    output, what is left unread in the terminal's input queue: anything a payload injected)."""
    master, slave = terminal or pty.openpty()

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            preexec_fn=controlling_terminal)
    output = b""
    typed = not keys
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    output += os.read(master, 4096)
                except OSError:
                    break
            if not typed and after in output:
                os.write(master, keys)
                typed = "at %.1fs" % (time.monotonic() - deadline + timeout)
            if proc.poll() is not None and not ready:
                break
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # What it printed and whether the keys went in, for a failure seen only under load.
            pytest.fail(f"did not end {timeout + 10}s after it started; keys typed: {typed} "
                        f"(after {after!r}); output: {output.decode(errors='replace')!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    os.set_blocking(slave, False)
    try:
        injected = os.read(slave, 1024)
    except OSError:
        injected = b""
    os.close(master)
    os.close(slave)
    return status, output.decode(errors="replace"), injected


def _bulkhead(stage, mode, *argv):
    command = [str(stage / "bin" / "bulkhead"), "exec", "--quiet", "--", *argv]
    return [*ROOTLESS, *command] if mode == "rootless" else command


def test_terminal_injection(stage, mode, check):
    terminal = pty.openpty()
    caller = os.fstat(terminal[1]).st_rdev
    status, output, injected = _under_terminal(
        _bulkhead(stage, mode, "/usr/bin/python3", "attempts.py", "tty", str(caller)), stage,
        terminal=terminal)
    assert status == 0, output
    results = json.loads(json.loads(output.strip().splitlines()[-1])["got"])
    for name in ("TIOCSTI", "TIOCSTI|1<<32", "TIOCLINUX", "TIOCLINUX|1<<32"):
        check(f"ioctl({name}) on its terminal", "EPERM", results[name])
    check("hold an fd of the caller's terminal", "none", results["own fds"])
    check("open /dev/tty", "its own pty", results["open /dev/tty"])
    check("open init's fds 0-2 (/proc/1/fd)", "EACCES", results["init fds"])
    check("bytes found in the caller's terminal's input queue afterwards", "none",
          "none" if not injected else repr(injected))


def test_ctrl_c_still_interrupts(stage, mode, check):
    program = "import time; print('ready', flush=True); time.sleep(30)"
    start = time.monotonic()
    status, output, _ = _under_terminal(
        _bulkhead(stage, mode, "/usr/bin/python3", "-c", program), stage, keys=b"\x03",
        after=b"ready")
    got = f"exit {status}" + ("" if time.monotonic() - start < 15 else " (late)")
    check("^C typed on the terminal interrupts the payload", "exit 130", got)


class _Shell:
    """An interactive bash with job control on a new pty, as a user's terminal: `type` keys,
    `expect` output (bounded waits). Closed (killed) at the end of the test."""

    def __init__(self, cwd):
        self.pid, self.master = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"],
                      {"PATH": os.environ["PATH"], "PS1": "$ ", "TERM": "dumb",
                       "HOME": os.environ.get("HOME", "/root")})
        self.output = b""

    def mark(self):
        return len(self.output)

    def expect(self, text, timeout=20, since=0):
        """Waits for `text` in the output from offset `since` (a mark() or what an earlier
        expect returned); returns the offset just past it."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output[since:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} on the terminal in {timeout}s:\n"
                                     f"{self.output.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.1))
            if ready:
                try:
                    self.output += os.read(self.master, 4096)
                except OSError:  # the shell is gone
                    deadline = 0
        return self.output.index(text.encode(), since) + len(text)

    def type(self, keys):
        os.write(self.master, keys.encode())

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.master)


@pytest.fixture
def shell(stage):
    opened = []

    def start():
        opened.append(_Shell(stage))
        return opened[-1]
    yield start
    for one in opened:
        one.close()


def _watching(sh, stage, mode, seconds, report, suffix=""):
    """Starts the stdin-watch attempt from the shell `sh` (its JSON goes to `report`)."""
    command = " ".join(_bulkhead(stage, mode, "/usr/bin/python3", "attempts.py", "stdin-watch",
                                 str(seconds)))
    sh.expect("$ ")
    sh.type(f"{command} > {report}{suffix}\n")
    sh.expect("watching")
    return sh


def _type_for_the_shell(sh):
    """A line meant for the shell, which the shell must get."""
    sh.type("echo shell-got-$((6*7))\n")
    sh.expect("shell-got-42")


def test_keys_typed_for_the_shell_while_in_the_background(stage, mode, check, shell, tmp_path):
    report = tmp_path / f"background-{mode}.json"
    sh = _watching(shell(), stage, mode, 6, report, " &")
    _type_for_the_shell(sh)
    sh.type("wait; echo waited-$((1+1))\n")
    sh.expect("waited-2", timeout=30)
    got = json.loads(json.loads(report.read_text())["got"])
    check("read what the user types for the shell, running in the background (&)", "nothing",
          repr(got["read"]) if got["read"] else "nothing")


def test_keys_typed_for_the_shell_while_stopped(stage, mode, check, shell, tmp_path):
    report = tmp_path / f"stopped-{mode}.json"
    sh = _watching(shell(), stage, mode, 8, report)
    sh.type("\x1a")  # ^Z
    sh.expect("Stopped")
    _type_for_the_shell(sh)
    time.sleep(2)
    mark = sh.mark()
    sh.type("fg\n")
    finished = sh.expect("finished", timeout=30, since=mark)
    sh.expect("$ ", since=finished)  # keys typed before the command ends go to it
    sh.type("echo done-$((1+1))\n")
    sh.expect("done-2")
    got = json.loads(json.loads(report.read_text())["got"])
    check("read what the user types for the shell, stopped by ^Z", "nothing",
          repr(got["read"]) if got["read"] else "nothing")
    check("run while bulkhead exec is stopped by ^Z", "stopped too",
          "stopped too" if got["longest pause"] >= 1.5 else
          f"ran on (longest pause {got['longest pause']}s)")


def test_a_repl_stays_usable(stage, mode, check, shell):
    sh = shell()
    sh.expect("$ ")
    command = " ".join(_bulkhead(stage, mode, "/usr/bin/python3", "-i", "-q"))
    sh.type(command + "\n")
    sh.expect(">>> ")
    sh.type("6*7\n")
    sh.expect("42")
    sh.type("import time; time.sleep(30)\n")
    time.sleep(1)
    sh.type("\x03")  # ^C: KeyboardInterrupt in the REPL, which goes on
    sh.expect("KeyboardInterrupt")
    sh.type("import os; print(os.ttyname(0)); open('/dev/tty', 'w').write('tty-' + str(6*7))\n")
    sh.expect("tty-42")
    sh.expect("/dev/console")
    mark = sh.mark()
    sh.type("exit()\n")
    sh.expect("$ ", since=mark)
    sh.type("echo status=$?\n")
    sh.expect("status=0")
    check("an interactive REPL: input, ^C, ttyname, /dev/tty, exit", "usable", "usable")

"""The terminal: `bulkhead exec` runs under a pseudo-terminal that is its controlling terminal,
as under a user's shell. The payload must not push input into it (TIOCSTI, the bubblewrap
CVE-2017-5226 class), set a console selection (TIOCLINUX), or open /dev/tty; ^C typed on the
terminal must still interrupt it. Every run is bounded by a deadline."""
import fcntl
import json
import os
import pty
import select
import subprocess
import termios
import time

ROOTLESS = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _under_terminal(command, cwd, keys=b"", after=b"", timeout=20):
    """Runs `command` as a session leader with a new pty as its controlling terminal; types
    `keys` once `after` has appeared. Returns (exit status, output, what is left unread in the
    terminal's input queue: anything a payload injected)."""
    master, slave = pty.openpty()

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
                typed = True
            if proc.poll() is not None and not ready:
                break
        status = proc.wait(timeout=10)
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
    status, output, injected = _under_terminal(
        _bulkhead(stage, mode, "/usr/bin/python3", "attempts.py", "tty"), stage)
    assert status == 0, output
    results = json.loads(json.loads(output.strip().splitlines()[-1])["got"])
    for name in ("TIOCSTI", "TIOCSTI|1<<32", "TIOCLINUX", "TIOCLINUX|1<<32"):
        check(f"ioctl({name}) on the caller's terminal", "EPERM", results[name])
    check("open /dev/tty (the caller's terminal)", "ENXIO", results["open /dev/tty"])
    check("bytes found in the terminal's input queue afterwards", "none",
          "none" if not injected else repr(injected))


def test_ctrl_c_still_interrupts(stage, mode, check):
    program = "import time; print('ready', flush=True); time.sleep(30)"
    start = time.monotonic()
    status, output, _ = _under_terminal(
        _bulkhead(stage, mode, "/usr/bin/python3", "-c", program), stage, keys=b"\x03",
        after=b"ready")
    got = f"exit {status}" + ("" if time.monotonic() - start < 15 else " (late)")
    check("^C typed on the terminal interrupts the payload", "exit 130", got)

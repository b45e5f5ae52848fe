"""The escape suite's harness.

Each test makes an attempt from inside a sandbox, as a hostile test would, and checks it fails.
Attempts run in every mode: as root (CI) and rootless (`setpriv` to uid 65534, where the kernel
allows unprivileged user namespaces). Every result is a row of one table (attempt, expected,
got as root, got rootless), printed at the end of the run; with BULKHEAD_CHECK_DOCS=1 (ctest
sets it) the run fails unless docs/security.md carries the same table, and with
BULKHEAD_WRITE_DOCS=1 the table there is rewritten.

To add an attempt: take the `mode` fixture (root, rootless) or run your own way, then call
`check(attempt, expected, got)`: it records the row and asserts `got` is `expected` (or one of
them, for a tuple). Use `inside(...)` to run tests/security/attempts.py in a sandbox."""
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("BULKHEAD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BULKHEAD = os.environ.get("BULKHEAD", str(SOURCE / "build" / "bin" / "bulkhead"))
ABI_PROBE = os.environ.get("BULKHEAD_ABI_PROBE", str(SOURCE / "build" / "bin" / "escape_abi_probe"))
DOC = SOURCE / "docs" / "security.md"
MODES = ("root", "rootless")
ROOTLESS = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
TABLE_START = "<!-- escape-table:start -->"
TABLE_END = "<!-- escape-table:end -->"


class EscapeTable:
    """Rows in the order attempts were first recorded; one result column per mode."""

    def __init__(self):
        self.rows = {}

    def record(self, attempt, expected, got, mode):
        shown = expected if isinstance(expected, str) else " or ".join(expected)
        row = self.rows.setdefault(attempt, {"expected": shown})
        row[mode] = got

    def markdown(self):
        lines = ["| attempt | expected | got (root) | got (rootless) |",
                 "| --- | --- | --- | --- |"]
        for attempt, row in self.rows.items():
            cells = [attempt, row["expected"], row.get("root", "not run"),
                     row.get("rootless", "not run")]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n"


TABLE = EscapeTable()


@pytest.fixture(scope="session")
def escape_table():
    return TABLE


def pytest_terminal_summary(terminalreporter):
    if not TABLE.rows:
        return
    terminalreporter.section("escape attempts")
    terminalreporter.write(TABLE.markdown())


def pytest_sessionfinish(session, exitstatus):
    if not TABLE.rows or exitstatus != 0:
        return
    text = DOC.read_text() if DOC.exists() else ""
    match = re.search(re.escape(TABLE_START) + r"\n(.*?)" + re.escape(TABLE_END), text, re.S)
    current = match.group(1) if match else None
    table = TABLE.markdown()
    if os.environ.get("BULKHEAD_WRITE_DOCS") == "1" and match:
        DOC.write_text(text[:match.start(1)] + table + text[match.end(1):])
    elif os.environ.get("BULKHEAD_CHECK_DOCS") == "1" and _comparable(current) != _comparable(table):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line(f"\n{DOC}: the escape table differs from this run's (above); rerun "
                            "with BULKHEAD_WRITE_DOCS=1 to update it, and review the change",
                            red=True)
        session.exitstatus = 1


def _comparable(table):
    """The table without the results of rows that accept several (which one happens depends on
    the machine: an OOM kill or a full tmpfs)."""
    if table is None:
        return None
    rows = []
    for line in table.splitlines():
        cells = line.split(" | ")
        if len(cells) == 4 and " or " in cells[1]:
            line = " | ".join(cells[:2] + ["(one of them)", "(one of them) |"])
        rows.append(line)
    return rows


# -- running attempts ----------------------------------------------------------------------------

def _rootless_refused():
    result = subprocess.run([*ROOTLESS, "unshare", "--user", "true"], capture_output=True,
                            text=True, timeout=30)
    return result.returncode != 0 and (result.stderr.strip() or "unshare --user failed")


@pytest.fixture(scope="session")
def stage():
    """A directory every mode can read: the binary with its data files, attempts.py and the
    ABI probe. It is the project directory of every attempt (an overlay inside)."""
    root = Path(tempfile.mkdtemp(prefix="bulkhead-escape-"))
    os.chmod(root, 0o755)
    build = Path(BULKHEAD).resolve().parent.parent
    shutil.copy2(BULKHEAD, root / "bulkhead")
    shutil.copytree(build / "share", root / "share")
    shutil.copy2(Path(__file__).with_name("attempts.py"), root / "attempts.py")
    if Path(ABI_PROBE).exists():
        shutil.copy2(ABI_PROBE, root / "abi_probe")
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    # bin/bulkhead finds share/bulkhead through /proc/self/exe, one level up.
    (root / "bin").mkdir(mode=0o755)
    os.replace(root / "bulkhead", root / "bin" / "bulkhead")
    yield root
    shutil.rmtree(root)


@pytest.fixture(params=MODES)
def mode(request):
    if request.param == "rootless":
        refused = _rootless_refused()
        if refused:
            TABLE.record("(rootless mode)", "runs", f"skipped: {refused}", "rootless")
            pytest.skip(f"unprivileged user namespaces are refused here: {refused}")
    return request.param


@pytest.fixture
def inside(stage, mode):
    """inside(*args, extra=(), env=None) runs `python3 attempts.py *args` in `bulkhead exec`
    (extra: exec options) in the current mode and returns what the attempt reported. With
    `program` (an argv) that runs instead; `raw` returns its stdout as it is."""
    def run(*args, extra=(), env=None, program=None, raw=False, timeout=60):
        command = [str(stage / "bin" / "bulkhead"), "exec", "--quiet", *extra, "--",
                   *(program or ["/usr/bin/python3", "attempts.py", *args])]
        if mode == "rootless":
            command = [*ROOTLESS, *command]
        full_env = dict(os.environ if env is None else env)
        if mode == "rootless" and env is None:
            full_env["HOME"] = str(stage)
        result = subprocess.run(command, cwd=stage, env=full_env, capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode == 121:
            return "OOM-killed"
        if raw:
            assert result.returncode == 0, result.stderr
            return result.stdout
        lines = result.stdout.strip().splitlines()
        try:
            reported = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            reported = None
        if reported is None:
            raise AssertionError(f"attempt {args} reported nothing (exit {result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return reported.get("got", reported)
    return run


@pytest.fixture
def check(mode):
    """check(attempt, expected, got): one row of the table; fails unless got is expected."""
    def record(attempt, expected, got):
        TABLE.record(attempt, expected, got, mode)
        allowed = (expected,) if isinstance(expected, str) else tuple(expected)
        assert got in allowed, f"{attempt} ({mode}): expected {expected}, got {got}"
    return record


@pytest.fixture(scope="session")
def host_secrets():
    """What the harness places on the host for attempts to reach: a root-only file, unix
    sockets anyone may connect to (in /run, in /var/lib, next to the project, abstract), and a
    TCP listener on the host's loopback. Removed at the end."""
    import socket
    token = os.urandom(4).hex()
    var_dir = Path(f"/var/lib/bulkhead-escape-{token}")
    run_dir = Path(f"/run/bulkhead-escape-{token}")
    made = {}
    sockets = []
    for directory in (var_dir, run_dir):
        directory.mkdir(mode=0o755)
    secret = var_dir / "secret"
    secret.write_text("root only\n")
    os.chmod(secret, 0o600)
    made["secret"] = str(secret)
    for key, path in (("run_socket", run_dir / "s.sock"), ("var_socket", var_dir / "s.sock")):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        os.chmod(path, 0o777)
        s.listen()
        sockets.append(s)
        made[key] = str(path)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0bulkhead-escape-{token}")
    abstract.listen()
    sockets.append(abstract)
    made["abstract_socket"] = f"@bulkhead-escape-{token}"
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    sockets.append(tcp)
    made["tcp_port"] = str(tcp.getsockname()[1])
    made["dir"] = str(var_dir)
    yield made
    for s in sockets:
        s.close()
    shutil.rmtree(var_dir)
    shutil.rmtree(run_dir)

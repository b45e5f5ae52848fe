"""Channel forgery: a hostile test inside a real `bulkhead run` sandbox finds its worker's
channel socket as an attacker would (/proc/self/fd) and writes to it what the supervisor must
not believe: a result for a test this worker was not given, a second result for a test it ran,
a report for an unknown index, a give-back (`released`) of a test it does not hold, an
oversized line, garbage, a mistyped field.

Each attempt is one run of the same small suite; it must end exactly as an honest run does for
every other test (each test once, the same outcomes and phases), with the forging worker named
and its running test (the forger) reported as a protocol error. Every attempt runs in each of
the escape suite's modes (conftest.py: root, and rootless where the kernel allows) and is a row
of its table (docs/security.md).
"""
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import ROOTLESS

PYTHON = "/usr/bin/python3"  # Debian's, with pytest
OUTPUT_CAP = 64 << 10  # --output-cap: the channel's line limit is then 16 MiB + 8 x 64 KiB
NOBODY = 65534  # ROOTLESS's uid

# Group A runs in one worker: a0 fails honestly, then the forger, then a1. Group B (b0 fails
# honestly, b1 passes) is never handed to A's worker: --dist loadgroup keeps a group together.
SUITE = {
    "test_a.py": '''
        import pytest
        from forge import forge

        pytestmark = pytest.mark.xdist_group("A")

        def test_a0_fails():
            assert 1 == 2

        def test_forger(request):
            forge(request)

        def test_a1_passes():
            pass
    ''',
    "test_b.py": '''
        import pytest

        pytestmark = pytest.mark.xdist_group("B")

        def test_b0_fails():
            assert "honest" == "forged"

        def test_b1_passes():
            pass
    ''',
    "forge.py": '''
        """What a hostile test does: find the channel, write lies to it."""
        import json
        import os
        import socket
        import stat

        def channel_fds():
            """Unix stream sockets among our fds: the worker's channel is the only one."""
            found = []
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                try:
                    if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                        continue
                    probe = socket.socket(fileno=os.dup(fd))
                except OSError:
                    continue
                if probe.family == socket.AF_UNIX and probe.type == socket.SOCK_STREAM:
                    found.append(fd)
                probe.close()
            return found

        def index_of(request, name):
            return [item.name for item in request.session.items].index(name)

        def report(index, outcome="passed"):
            return {"event": "report", "index": index, "when": "call", "outcome": outcome,
                    "category": outcome, "letter": ".", "word": "PASSED", "duration": 0.0}

        def lines(*events):
            return b"".join(json.dumps(e).encode() + b"\\n" for e in events)

        def forge(request):
            mode = os.environ.get("FORGE", "none")
            fds = channel_fds()
            print("channel candidates:", fds)
            if mode == "none":
                return
            assert fds, "no channel socket found"
            if mode == "not_given":
                target = index_of(request, "test_b0_fails")
                data = lines(report(target), {"event": "finished", "index": target})
            elif mode == "second_result":
                target = index_of(request, "test_a0_fails")
                data = lines(report(target), {"event": "finished", "index": target})
            elif mode == "released":
                target = index_of(request, "test_b0_fails")
                data = lines({"event": "released", "indices": [target]})
            elif mode == "unknown_index":
                data = lines(report(10 ** 6), {"event": "finished", "index": 10 ** 6})
            elif mode == "oversized":
                cap = (16 << 20) + 8 * int(os.environ["OUTPUT_CAP"])
                data = b'{"event":"warning","message":"' + b"x" * (cap + 4096) + b'"}\\n'
            elif mode == "garbage":
                data = b"\\x00\\xff not json at all {{{\\n"
            elif mode == "wrong_type":
                data = lines({"event": "finished", "index": str(index_of(request, "test_forger"))})
            else:
                raise AssertionError("unknown FORGE mode " + mode)
            for fd in fds:
                os.write(fd, data)
            # The supervisor kills this worker for it: stay until it does.
            import time
            time.sleep(30)
    ''',
}

# attempt -> (FORGE mode, what the forger's cause message must say: one of them)
ATTEMPTS = {
    "result for a test this worker was not given": (
        "not_given", ("`report` for test 3 (test_b.py::test_b0_fails), which this worker was "
                      "not given",)),
    "second result for a test it ran": (
        "second_result", ("`report` for test 0 (test_a.py::test_a0_fails), which this worker "
                          "already finished (a second result)",)),
    "report for an unknown test index": (
        "unknown_index", ("`report` for test index 1000000 (only 5 tests were collected)",)),
    # Unasked, as a rule; should the other worker's idle request be pending just then, the
    # steal named group A's tests, not B's.
    "give back (`released`) a test it does not hold": (
        "released", ("`released` with no `steal` to answer",
                     "`released` test 3 (test_b.py::test_b0_fails), which the `steal` it "
                     "answers did not ask for")),
    "oversized line": (
        "oversized", ("a line longer than %d bytes" % ((16 << 20) + 8 * OUTPUT_CAP),)),
    "garbage bytes": ("garbage", ("malformed JSON line",)),
    "mistyped field (index as a string)": (
        "wrong_type", ("field 'index': expected a test index",)),
}

EXPECTED = "refused, worker killed"


@pytest.fixture(scope="module")
def projects():
    """mode -> (the suite's directory, its honest run's report), made on first use: one copy
    per mode, owned by uid 65534 when rootless."""
    made = {}
    yield made
    for root, _ in made.values():
        shutil.rmtree(root)


@pytest.fixture
def project(projects, mode, stage):
    """(directory, honest report) for this mode: the forgeries are compared with the honest run."""
    if mode not in projects:
        root = Path(tempfile.mkdtemp(prefix="bulkhead-channel-", dir="/tmp"))
        os.chmod(root, 0o755)
        for name, text in SUITE.items():
            (root / name).write_text(textwrap.dedent(text))
        (root / "tmp").mkdir()
        if mode == "rootless":
            for path in [root, *root.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        projects[mode] = (root, None)
        projects[mode] = (root, honest_run(stage, root, mode))
    root, honest = projects[mode]
    if honest is None:
        pytest.fail(f"the honest run failed in {mode} mode (see its test)")
    return root, honest


def run(stage, project, mode, forge):
    """One `bulkhead run -n 2 --dist loadgroup` of the suite; (exit code, output, report)."""
    report = project / f"report-{forge}.json"
    env = dict(os.environ, FORGE=forge, OUTPUT_CAP=str(OUTPUT_CAP), COLUMNS="100",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", HOME=str(project),
               TMPDIR=str(project / "tmp"))
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [*(ROOTLESS if mode == "rootless" else []), str(stage / "bin" / "bulkhead"), "run",
         "-n", "2", "--dist", "loadgroup", "--python", PYTHON, "--color", "no",
         "--output-cap", str(OUTPUT_CAP), "--json", str(report), "-p", "no:cacheprovider",
         *xdist_plugin(), "-s"],
        cwd=project, env=env, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert report.exists(), output
    return result.returncode, output, json.loads(report.read_text())


def xdist_plugin():
    """Plugins installed on the machine stay out of the runs (PYTEST_DISABLE_PLUGIN_AUTOLOAD);
    bulkhead's -n needs xdist loaded when it is there."""
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('xdist') is None)"
    return ["-p", "xdist.plugin"] if subprocess.run([PYTHON, "-c", code]).returncode == 0 else []


def result_of(test):
    """What a test's result is made of: its outcome, cause and every phase's outcome."""
    phases = ", ".join(f"{p['when']} {p['outcome']}" for p in test["phases"])
    return f"{test['outcome']} {test['cause']} [{phases}]"


def honest_run(stage, project, mode):
    code, output, report = run(stage, project, mode, "none")
    outcomes = {t["nodeid"]: t["outcome"] for t in report["tests"]}
    assert code == 1, output
    assert outcomes == {
        "test_a.py::test_a0_fails": "failed", "test_a.py::test_forger": "passed",
        "test_a.py::test_a1_passes": "passed", "test_b.py::test_b0_fails": "failed",
        "test_b.py::test_b1_passes": "passed"}, output
    # The attacker's view: exactly one unix stream socket among its fds, the channel.
    assert "channel candidates: [" in output and "channel candidates: []" not in output, output
    return report


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_forged_channel_message(stage, mode, project, check, attempt):
    forge, reasons = ATTEMPTS[attempt]
    root, honest = project
    code, output, report = run(stage, root, mode, forge)
    got = []
    nodeids = [t["nodeid"] for t in report["tests"]]
    if sorted(nodeids) != sorted(set(nodeids)) or len(nodeids) != len(honest["tests"]):
        got.append(f"tests reported {len(nodeids)} times for {len(set(nodeids))} tests")
    if report["summary"]["tests"] != len(honest["tests"]):
        got.append(f"summary counts {report['summary']['tests']} tests")
    honest_results = {t["nodeid"]: result_of(t) for t in honest["tests"]}
    forger = None
    for test in report["tests"]:
        if test["nodeid"] == "test_a.py::test_forger":
            forger = test
        elif result_of(test) != honest_results[test["nodeid"]]:
            got.append(f"{test['nodeid']}: {result_of(test)} (honest: "
                       f"{honest_results[test['nodeid']]})")
    assert forger is not None, output
    worker = forger["worker"]
    message = forger["cause_message"]
    if forger["cause"] != "crash" or not message.startswith(f"Protocol error from {worker}: "):
        got.append(f"forger: {forger['cause']}: {message[:200]}")
    elif not any(reason in message for reason in reasons):
        got.append(f"forger's cause says none of {reasons}: {message[:200]}")
    if f"protocol error from {worker}: " not in output:
        got.append("the run's output does not name the forging worker")
    if code != 3:
        got.append(f"exit {code} (expected 3: an internal error)")
    if got:
        print(output)  # shown with the failure
    # The table says what happened in words that do not depend on which worker got the forger.
    check(f"channel: {attempt}", EXPECTED, "; ".join(got) if got else EXPECTED)


HONEST_EXTREMES = '''
import pytest

def test_huge_failure():
    raise ValueError("x" * (4 << 20))  # its report repeats it: well over the line limit

def test_huge_output():
    print("\\x01" * (1 << 20))  # control bytes: six-byte JSON escapes each

def test_nan_property(record_property):
    record_property("score", float("nan"))

@pytest.mark.timeout(float("inf"))
def test_inf_timeout():
    pass
'''


def test_an_honest_worker_stays_within_the_rules(stage, tmp_path):
    """What a legitimate test can make the worker send never trips the rules: reports too
    long for one line are cut by the worker (saying so), NaN and infinity are not JSON."""
    (tmp_path / "test_extremes.py").write_text(HONEST_EXTREMES)
    env = dict(os.environ, COLUMNS="100", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("PYTEST_ADDOPTS", None)
    report = tmp_path / "report.json"
    result = subprocess.run(
        [str(stage / "bin" / "bulkhead"), "run", "-n", "2", "--python", PYTHON, "--color", "no",
         "--output-cap", str(OUTPUT_CAP), "--json", str(report), "-p", "no:cacheprovider",
         *xdist_plugin()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert "protocol error" not in result.stdout + result.stderr, output
    assert result.returncode == 1, output
    tests = {t["nodeid"].split("::")[1]: t for t in json.loads(report.read_text())["tests"]}
    assert {name: t["outcome"] for name, t in tests.items()} == {
        "test_huge_failure": "failed", "test_huge_output": "passed",
        "test_nan_property": "passed", "test_inf_timeout": "passed"}, output
    call = [p for p in tests["test_huge_failure"]["phases"] if p["when"] == "call"][0]
    assert "characters not kept: a channel line is at most" in call["longrepr"], output
    assert call["longrepr"].count("x" * 1000) >= 1, output


def test_the_worker_cuts_or_refuses_what_would_not_fit(stage, monkeypatch):
    """bulkhead_worker.Channel: every line it writes fits the supervisor's caps. Reports are
    cut (longest strings first), or reduced to their outcome; a collection or a `done` too long
    is an error, never a corrupted message."""
    monkeypatch.syspath_prepend(str(stage / "share" / "bulkhead" / "python"))
    import bulkhead_worker

    cap = 64 << 10
    channel = bulkhead_worker.Channel(-1, line_cap=cap, collection_cap=2 * cap)
    report = {"event": "report", "index": 1, "when": "call", "outcome": "failed",
              "longrepr": "E" * (3 * cap), "raw": {"longrepr": ["y" * cap, ("t" * cap, 1)]},
              "sections": [["Captured stdout call", "\x01" * cap]]}
    channel.post(report)
    line = bytes(channel._outbox).rstrip(b"\n")
    assert len(line) <= cap
    sent = json.loads(line)
    assert sent["outcome"] == "failed" and sent["index"] == 1
    assert "characters not kept" in sent["longrepr"]

    channel._outbox.clear()
    many = {"event": "report", "index": 2, "when": "call", "outcome": "passed",
            "raw": {"keywords": {f"k{i}": 1 for i in range(cap)}}}
    channel.post(many)
    sent = json.loads(bytes(channel._outbox))
    assert sent["outcome"] == "passed" and "over the channel's limit" in sent["longrepr"]

    for message, says in (({"event": "collected", "items": [{"nodeid": "t" * 100}] * 2000},
                           "(2000 tests collected)"),
                          ({"event": "done", "workeroutput": {"cov": "c" * (2 * cap)}}, "`done`")):
        with pytest.raises(pytest.UsageError, match="over the channel's limit") as error:
            channel.post(message)
        assert says in str(error.value)

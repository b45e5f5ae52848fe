"""Integration: fault containment in `bulkhead run` (timeouts, crashes, OOM, restarts)."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

BULKHEAD = os.environ.get("BULKHEAD", "")
SOURCE = Path(os.environ.get("BULKHEAD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
FAULTS = SOURCE / "tests" / "suites" / "run_faults"

pytestmark = pytest.mark.skipif(not BULKHEAD, reason="BULKHEAD (the binary) not set")


def command(*args):
    return [BULKHEAD, "run", "--python", "/usr/bin/python3", "--color", "no", *args]


def run(*args, timeout=120):
    return subprocess.run(command(*args), cwd=FAULTS, capture_output=True, text=True,
                          timeout=timeout)


def by_nodeid(report_path):
    data = json.loads(Path(report_path).read_text())
    return {test["nodeid"]: test for test in data["tests"]}


def test_timeout_reports_stack_and_run_goes_on(tmp_path):
    report = tmp_path / "r.json"
    result = run("-n", "2", "-k", "hangs or ok_", "--json", str(report))
    assert result.returncode == 1, result.stdout
    assert "TIMEOUT test_faults.py::test_hangs - Timeout: test exceeded 1s" in result.stdout
    assert "in test_hangs" in result.stdout  # the faulthandler stack
    assert "1 failed, 2 passed" in result.stdout
    tests = by_nodeid(report)
    assert len(tests) == 3


def test_crashes_are_contained():
    result = run("-n", "2", "-k", "segfault or os_exit or abort or kill_self or ok_")
    assert result.returncode == 1, result.stdout
    out = result.stdout
    assert "CRASHED test_faults.py::test_segfault" in out
    assert "SIGSEGV" in out
    assert "exited with status 7" in out
    assert "SIGABRT" in out
    assert "CRASHED test_faults.py::test_kill_self" in out
    assert "4 failed, 2 passed" in out


def test_oom_is_read_from_the_cgroup():
    result = run("-n", "1", "--memory", "256M", "-k", "oom or ok_")
    if "memory limit" not in result.stdout and "OOM" not in result.stdout:
        pytest.skip("no memory cgroup on this host")
    assert "OOM test_faults.py::test_oom - OOM: memory limit 256 MiB exceeded" in result.stdout
    assert "1 failed, 2 passed" in result.stdout


def test_restart_limit_reports_rest_not_run(tmp_path):
    report = tmp_path / "r.json"
    result = run("-n", "1", "--max-worker-restart", "0", "-p", "no:randomly",
                 "-k", "segfault or ok_after", "--json", str(report))
    assert result.returncode == 1
    assert "not run" in result.stdout
    tests = by_nodeid(report)
    assert len(tests) == 2  # each collected test exactly once


def test_session_timeout_interrupts(tmp_path):
    report = tmp_path / "r.json"
    # 8 s: the collection must end first even on a loaded machine; test_slow sleeps 20 s.
    result = run("-n", "1", "--session-timeout", "8", "-k", "slow", "--timeout", "30",
                 "--json", str(report))
    assert result.returncode == 2, result.stdout
    assert "session timeout" in result.stdout
    assert len(by_nodeid(report)) == 1


@pytest.mark.parametrize("zygote", ["on", "off"])
def test_session_timeout_before_collection_is_named(tmp_path, zygote):
    # Collection outlasts the session: the run says so and exits 2 (interrupted), not 3 with a
    # worker "killed by SIGKILL" that bulkhead itself killed.
    (tmp_path / "conftest.py").write_text("import time\ntime.sleep(30)\n")
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    result = subprocess.run(command("-n", "2", "--zygote", zygote, "--session-timeout", "2",
                                    "-p", "no:cacheprovider", "-p", "no:random_order"),
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("session timeout of 2s reached (--session-timeout) before collection finished; "
            "no test ran") in result.stdout
    assert "killed by SIGKILL" not in result.stdout


def test_sigterm_kills_workers_and_writes_partial_reports(tmp_path):
    report = tmp_path / "r.json"
    process = subprocess.Popen(command("-n", "1", "-k", "slow", "--timeout", "60",
                                       "--json", str(report)),
                               cwd=FAULTS, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2, out
    assert report.exists()


def test_session_fixture_crashing_every_worker_ends_the_run(tmp_path):
    # Every worker dies in its first test; the run must stop replacing them rather than start
    # one worker per test, and still report each test once.
    (tmp_path / "conftest.py").write_text(
        "import os, pytest\n"
        "@pytest.fixture(scope='session', autouse=True)\n"
        "def broken():\n"
        "    if os.environ.get('BULKHEAD_WORKER'):\n"
        "        os.abort()\n"
        "    yield\n")
    (tmp_path / "test_many.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('i', range(40))\n"
        "def test_one(i):\n"
        "    pass\n")
    report = tmp_path / "r.json"
    started = time.monotonic()
    result = subprocess.run(command("-n", "2", "--max-worker-restart", "2", "--json", str(report)),
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "workers in a row died in a test" in result.stdout
    tests = by_nodeid(report)
    assert len(tests) == 40
    causes = [t["cause"] for t in tests.values()]
    assert causes.count("crash") <= 2 + 2 + 2  # free deaths + budget, per the rule, bounded
    assert causes.count("crash") + causes.count("notrun") == 40
    assert time.monotonic() - started < 60

"""Integration (issue "fault containment"): `bulkhead run` on a copy of tests/suites/faults
(300 ordinary tests, 13 that hang, crash, exhaust memory/pids/output or leave a daemon).

One full run (module fixture) is checked from every side: exit code, each test reported once
with the right cause, the terminal summary, JUnit types, nothing left behind (processes,
cgroups, mounts, the worker-log directory) and the wall time. A second, smaller run checks that
outcomes and causes repeat; a rootless run (uid 65534 in a user namespace) checks the fallback.

Every misbehaving test in the suite is bounded on its own (see tests/suites/README.md), and
every run here has a subprocess timeout, so a broken sandbox costs time, never the machine.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import pytest

from helpers import (BULKHEAD, closing_counts, copy_suite, leaked_cgroups, mount_lines,
                     processes_with_env_marker, run_bulkhead, run_pytest)

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD (the binary) not set")

WORKERS = 2
TIMEOUT_S = 5
MEMORY = "512M"
# The issue's own command: the default profile's pids limit (1024) applies. The fork loop's
# children exec a small `sleep`, so the pids limit, not the memory limit, stops it.
PIDS = "1024"
BASE_ARGS = ["-n", str(WORKERS), "--timeout", str(TIMEOUT_S), "--memory", MEMORY]

HANGS = ["test_fault_hang.py::test_hang_sleep", "test_fault_hang.py::test_hang_busy_loop",
         "test_fault_hang.py::test_hang_deadlock", "test_fault_hang.py::test_hang_in_c"]
CRASHES = {  # nodeid -> what the crash message must say
    "test_fault_crash.py::test_crash_segfault": "killed by SIGSEGV",
    "test_fault_crash.py::test_crash_abort": "killed by SIGABRT",
    "test_fault_crash.py::test_crash_exit": "exited with status 3",
    "test_fault_crash.py::test_crash_sigkill": "killed by SIGKILL",
}
MEMORY_HOG = "test_fault_resources.py::test_memory_hog"
FORK_LOOP = "test_fault_resources.py::test_fork_loop"
DAEMON = "test_fault_resources.py::test_leftover_daemon"
FLOOD = "test_fault_resources.py::test_output_flood"
KILL_PARENT = "test_fault_kill_parent.py::test_kill_parent"
FAULTY = set(HANGS) | set(CRASHES) | {MEMORY_HOG, FORK_LOOP, DAEMON, FLOOD, KILL_PARENT}

# Wall time bound: the hangs can at best share the workers (hangs x timeout / workers); on top
# of that, documented slack for: the stack dump and kill after each deadline (< 0.1 s when the
# worker answers SIGUSR1, else 1 s), ~10 worker replacements (~0.3 s each: sandbox, interpreter,
# collection of 313 tests), two initial collections and the 300 ordinary tests (~3 s), and the
# scheduler handing consecutive tests out in batches, so two hangs can queue behind each other
# on one worker (one or two extra hang periods; see the report of this change).
WALL_SLACK_S = 20.0


def outcome_and_cause(report_path):
    data = json.loads(Path(report_path).read_text())
    return {t["nodeid"]: (t["outcome"], t["cause"]) for t in data["tests"]}


class FaultRun:
    """What one `bulkhead run` on the faults suite left: result, reports, observations."""


@pytest.fixture(scope="module")
def collected_ids(tmp_path_factory):
    suite = copy_suite("faults", tmp_path_factory.mktemp("collect"))
    result = run_pytest("--collect-only", "-q", cwd=suite, timeout=120)
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(ids) == 313, result.stdout[-2000:]
    return ids


def watch_processes(marker, seen, stop):
    """Background poll: every process carrying the run's marker, by cmdline, while it runs."""
    while not stop.is_set():
        for pid, cmdline in processes_with_env_marker(marker):
            seen.setdefault(cmdline, set()).add(pid)
        stop.wait(0.1)


def faults_run(base, extra_args=(), env_extra=None, watch=False):
    run = FaultRun()
    run.suite = copy_suite("faults", base)
    run.tmpdir = os.path.join(str(base), "tmpdir")  # TMPDIR: where worker logs would go
    os.makedirs(run.tmpdir)
    run.json = os.path.join(str(base), "out.json")
    run.xml = os.path.join(str(base), "out.xml")
    run.marker = "bulkhead-it-" + uuid.uuid4().hex
    env = dict(os.environ, TMPDIR=run.tmpdir, BULKHEAD_IT_MARKER=run.marker,
               BULKHEAD_FAULT_HANG_S="60")
    env.pop("BULKHEAD_KEEP_LOGS", None)
    env.update(env_extra or {})
    run.mounts_before = mount_lines()
    run.seen = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_processes, args=(run.marker, run.seen, stop))
    if watch:
        watcher.start()
    started = time.monotonic()
    try:
        run.result = run_bulkhead(*BASE_ARGS, "--json", run.json, "--junitxml", run.xml,
                                  *extra_args, cwd=run.suite, env=env, timeout=240)
    finally:
        run.wall_s = time.monotonic() - started
        stop.set()
        if watch:
            watcher.join()
    run.mounts_after = mount_lines()
    run.out = run.result.stdout
    run.report = json.loads(Path(run.json).read_text())
    run.tests = {t["nodeid"]: t for t in run.report["tests"]}
    return run


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return faults_run(tmp_path_factory.mktemp("full"), watch=True)


def test_exit_code_and_closing_line(full):
    assert full.result.returncode == 1, full.out[-3000:] + full.result.stderr
    # 4 crashes, 4 timeouts, 1 OOM and the fork loop fail; all else passes.
    assert closing_counts(full.out) == "10 failed, 303 passed", full.out[-3000:]
    assert "collected 313 items" in full.out


def test_every_collected_test_reported_exactly_once(full, collected_ids):
    ids = [t["nodeid"] for t in full.report["tests"]]
    assert len(ids) == 313
    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == set(collected_ids)
    suite = ElementTree.parse(full.xml).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert suite.get("tests") == "313" and len(cases) == 313
    assert len({(c.get("classname"), c.get("name")) for c in cases}) == 313
    summary = full.report["summary"]
    assert (summary["tests"], summary["passed"], summary["failed"]) == (313, 303, 10)
    assert summary["notrun"] == 0


def test_all_ordinary_tests_passed(full):
    ordinary = {nodeid: t for nodeid, t in full.tests.items() if "test_ordinary_" in nodeid}
    assert len(ordinary) == 300
    assert {t["outcome"] for t in ordinary.values()} == {"passed"}
    assert {t["cause"] for t in ordinary.values()} == {""}


def test_hangs_are_timeouts_with_stacks(full):
    for nodeid in HANGS:
        test = full.tests[nodeid]
        assert (test["outcome"], test["cause"]) == ("failed", "timeout"), nodeid
        assert test["cause_message"] == f"Timeout: test exceeded {TIMEOUT_S}s"
        # The kill came at the deadline, not at the end of the 60 s hang.
        assert TIMEOUT_S <= test["duration"] < TIMEOUT_S + 3, (nodeid, test["duration"])
        longrepr = "".join(p["longrepr"] for p in test["phases"])
        assert "Python stacks of gw" in longrepr
        assert f"in {nodeid.split('::')[1]}" in longrepr, longrepr[:2000]  # the test's frame
    sleep = "".join(p["longrepr"] for p in full.tests[HANGS[0]]["phases"])
    assert "test_fault_hang.py" in sleep
    deadlock = "".join(p["longrepr"] for p in full.tests[HANGS[2]]["phases"])
    assert deadlock.count("Thread 0x") + deadlock.count("Current thread 0x") >= 2  # both threads
    assert "nobody stopped the test" not in full.out


def test_crashes_name_the_signal_or_status(full):
    for nodeid, what in CRASHES.items():
        test = full.tests[nodeid]
        assert (test["outcome"], test["cause"]) == ("failed", "crash"), nodeid
        assert test["cause_message"].startswith("Crash: worker gw"), test["cause_message"]
        assert what in test["cause_message"], (nodeid, test["cause_message"])
    # SIGKILL from the test itself is a crash, never mistaken for an OOM kill.
    assert "OOM" not in full.tests["test_fault_crash.py::test_crash_sigkill"]["cause_message"]
    # A fatal signal's Python stack reaches the report (faulthandler on the real stderr).
    segv = "".join(p["longrepr"] for p in full.tests["test_fault_crash.py::test_crash_segfault"]["phases"])
    assert "Fatal Python error: Segmentation fault" in segv
    assert "in test_crash_segfault" in segv


def test_killing_its_parent_does_not_reach_the_supervisor(full):
    test = full.tests[KILL_PARENT]
    pid_namespace = not any("pid" in m.lower() for m in full.report["run"]["isolation_missing"])
    if pid_namespace:
        # Its parent is the sandbox's init (pid 1 of the namespace): the kernel ignores the kill.
        assert (test["outcome"], test["cause"]) == ("passed", "")
    else:
        assert (test["outcome"], test["cause"]) == ("failed", "crash")
    assert full.result.returncode == 1  # the supervisor lived to report everything


def test_memory_hog_is_oom_with_the_limit(full):
    test = full.tests[MEMORY_HOG]
    assert (test["outcome"], test["cause"]) == ("failed", "oom")
    assert test["cause_message"].startswith("OOM: memory limit 512 MiB exceeded")


def test_fork_loop_fails_at_the_pids_limit(full):
    test = full.tests[FORK_LOOP]
    assert (test["outcome"], test["cause"]) == ("failed", "")
    message = "".join(p["message"] for p in test["phases"])
    assert "fork failed after" in message and "Errno 11" in message, message
    children = int(message.split("fork failed after ")[1].split()[0])
    assert int(PIDS) - 50 <= children < int(PIDS), message  # less pytest and the sandbox init
    # The report names the cause the test's own message does not.
    assert message.startswith(f"pids limit ({PIDS}) reached: "), message
    longrepr = "".join(p["longrepr"] for p in test["phases"])
    assert f"[bulkhead] the worker's pids limit ({PIDS}) reached during this test" in longrepr


def test_leftover_daemon_passes_and_is_gone(full):
    assert (full.tests[DAEMON]["outcome"], full.tests[DAEMON]["cause"]) == ("passed", "")
    assert any(cmd == "sleep 300" for cmd in full.seen), sorted(full.seen)  # it did exist
    assert processes_with_env_marker(full.marker) == []  # nothing of the run is left


def test_output_flood_passes_and_is_capped(full):
    test = full.tests[FLOOD]
    assert (test["outcome"], test["cause"]) == ("passed", "")
    sections = [s for p in test["phases"] for s in p["sections"]]
    assert sections, "the flood's output should be kept, capped"
    for section in sections:
        assert len(section["content"]) <= (1 << 20) + 200  # --output-cap default: 1 MiB
    assert any("more bytes of output not kept]" in s["content"] for s in sections)
    assert os.path.getsize(full.json) < 8 << 20  # 40 MiB of output did not reach the report
    assert os.path.getsize(full.xml) < 8 << 20


def test_terminal_summary_lines(full):
    lines = full.out.splitlines()
    for nodeid in HANGS:
        assert any(l.startswith(f"TIMEOUT {nodeid} - Timeout: test exceeded 5s") for l in lines)
    for nodeid in CRASHES:
        assert any(l.startswith(f"CRASHED {nodeid} - Crash: worker gw") for l in lines), nodeid
    assert any(l.startswith(f"OOM {MEMORY_HOG} - OOM: memory limit 512 MiB") for l in lines)
    assert any(l.startswith(f"FAILED {FORK_LOOP} - pids limit ({PIDS}) reached") for l in lines)
    assert not any(l.startswith(("NOTRUN", "ERROR")) for l in lines)


def test_junit_failure_types(full):
    suite = ElementTree.parse(full.xml).getroot().find("testsuite")
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("10", "0", "0")
    types = {}
    for case in suite.findall("testcase"):
        nodeid = case.get("classname").replace(".", "/") + ".py::" + case.get("name")
        failure = case.find("failure")
        if failure is not None:
            types[nodeid] = failure.get("type")
    expected = {nodeid: "timeout" for nodeid in HANGS}
    expected.update({nodeid: "crash" for nodeid in CRASHES})
    expected[MEMORY_HOG] = "oom"
    expected[FORK_LOOP] = None  # an ordinary test failure: pytest writes no type for it
    assert types == expected


def test_nothing_left_behind(full):
    assert processes_with_env_marker(full.marker) == []
    assert leaked_cgroups() == []
    assert full.mounts_after == full.mounts_before
    # The worker logs went with the run (no --keep-logs), and so did bulkhead-<uid>.
    assert os.listdir(full.tmpdir) == [], os.listdir(full.tmpdir)
    assert "full worker log:" not in full.out
    assert "worker logs:" not in full.out


def test_wall_time_is_bounded(full):
    # The slack is CPU work (sandboxes, interpreters, collection, 300 tests): on a machine busy
    # with other work (load average above its CPU count) it stretches by the same factor. The
    # hang periods do not.
    load_factor = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    bound = len(HANGS) * TIMEOUT_S / WORKERS + WALL_SLACK_S * load_factor
    assert full.wall_s <= bound, f"{full.wall_s:.1f}s > {bound:.1f}s"


def test_requeued_tests_never_end_not_run(full):
    # ~10 worker deaths with the default --max-worker-restart (8 for -n 2): every death had a
    # test to blame, so none used up the budget and nothing was left NOTRUN.
    assert "not run" not in full.out.lower()
    assert "restarts exhausted" not in full.out


SUBSET = "crash or hang_sleep or memory_hog or fork_loop or kill_parent or leftover or flood " \
         "or ordinary_a"


def test_two_runs_give_the_same_outcomes_and_causes(full, tmp_path):
    again = faults_run(tmp_path, extra_args=["-k", SUBSET])
    assert again.result.returncode == 1, again.out[-3000:]
    assert closing_counts(again.out) == "7 failed, 53 passed, 253 deselected"
    second = {nodeid: (t["outcome"], t["cause"]) for nodeid, t in again.tests.items()}
    first = {nodeid: (t["outcome"], t["cause"]) for nodeid, t in full.tests.items()
             if nodeid in second}
    assert len(second) == 60 and first == second
    assert processes_with_env_marker(again.marker) == []
    assert os.listdir(again.tmpdir) == []


def test_keep_logs_keeps_them_and_says_where(tmp_path):
    run = faults_run(tmp_path, extra_args=["-k", "segfault or ordinary_b", "--keep-logs"])
    assert run.result.returncode == 1
    [owner_dir] = os.listdir(run.tmpdir)
    assert owner_dir == f"bulkhead-{os.getuid()}"
    run_dir = os.path.join(run.tmpdir, owner_dir, run.report["run"]["run_id"])
    assert f"worker logs: {run_dir} (kept)" in run.out
    assert f"worker logs kept in {run_dir}" in run.out
    assert f"(full worker log: {run_dir}/gw" in run.out
    assert any(name.endswith(".log") for name in os.listdir(run_dir))


# -- rootless ---------------------------------------------------------------------------------

NOBODY = 65534


def userns_refused():
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "unshare", "--user", "--map-root-user", "true"],
                           capture_output=True, text=True, timeout=30)
    return probe.returncode != 0


def test_rootless_run_reports_missing_cgroups_and_crashes():
    if os.getuid() != 0:
        pytest.skip("needs root to drop to uid 65534")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    if userns_refused():
        pytest.skip("unprivileged user namespaces are refused on this host")
    # pytest's tmp_path is root-only (0700): use a directory uid 65534 can reach.
    base = tempfile.mkdtemp(prefix="bulkhead-it-rootless-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        suite = copy_suite("faults", base)
        tmpdir = os.path.join(base, "tmpdir")
        os.makedirs(tmpdir)
        report = os.path.join(base, "out.json")
        for root, dirs, files in os.walk(base):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, NOBODY, NOBODY)
        marker = "bulkhead-it-" + uuid.uuid4().hex
        env = dict(os.environ, HOME=base, TMPDIR=tmpdir, BULKHEAD_IT_MARKER=marker,
                   BULKHEAD_FAULT_HANG_S="60")
        result = run_bulkhead(
            "-n", "2", "--timeout", "5", "-k", "crash or ordinary_a", "--json", report,
            cwd=suite, env=env, timeout=180,
            preexec=["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"])
        out = result.stdout
        assert result.returncode == 1, out[-3000:] + result.stderr
        assert "rootless (user namespace)" in out
        assert "cgroups none" in out
        # The lost cgroups are named, with the reason and what replaces the memory limit:
        # v1 one group per controller, v2 one line for the controllers it could not enable.
        missing = [l for l in out.splitlines() if l.startswith("isolation missing: ")]
        v1 = any("cgroups v1" in l for l in missing)
        if v1:
            assert any("cannot create the memory group" in l and "Permission denied" in l
                       for l in missing), missing
            assert any("cannot create the pids group" in l for l in missing), missing
        else:
            assert any("cgroups v2: cannot enable" in l and "+memory +pids" in l and
                       f"not delegated to uid {NOBODY}" in l for l in missing), missing
        assert any("RLIMIT_AS" in l for l in missing), missing
        assert closing_counts(out) == "4 failed, 50 passed, 259 deselected"
        tests = outcome_and_cause(report)
        assert len(tests) == 54
        for nodeid, what in CRASHES.items():
            assert tests[nodeid] == ("failed", "crash"), nodeid
            assert any(l.startswith(f"CRASHED {nodeid} - Crash: worker gw") for l in out.splitlines())
        assert "killed by SIGSEGV" in out and "exited with status 3" in out
        assert processes_with_env_marker(marker) == []
        assert os.listdir(tmpdir) == []
        assert leaked_cgroups() == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- requeued work reaches a live worker ----------------------------------------------------------

def test_requeued_tests_reach_the_idle_worker(tmp_path):
    """gw0 holds a batch behind a test that crashes late; gw1 runs out of work long before.
    What gw0 held must reach gw1 (stolen while gw0 hangs, or from the requeue after the crash,
    with a fresh worker in gw1's slot if it had ended), not wait for gw0's replacement."""
    suite = tmp_path / "requeue"
    suite.mkdir()
    (suite / "test_requeue.py").write_text(
        "import os, time\n"
        "def test_00_crash_late():\n"
        "    time.sleep(3)\n"
        "    os._exit(9)\n"
        + "".join(f"def test_{i:02d}():\n    time.sleep(0.05)\n" for i in range(1, 41))
    )
    report = tmp_path / "r.json"
    result = run_bulkhead("-n", "2", "-p", "no:randomly", "--json", str(report), cwd=suite,
                          timeout=120)
    assert result.returncode == 1, result.stdout[-3000:]
    assert closing_counts(result.stdout) == "1 failed, 40 passed"
    data = json.loads(report.read_text())
    tests = {t["nodeid"]: t for t in data["tests"]}
    crash = tests["test_requeue.py::test_00_crash_late"]
    assert crash["cause"] == "crash", crash
    assert "exited with status 9" in crash["cause_message"]
    # What gw0 held behind the crash ran after it, on both workers.
    requeued = [t for t in tests.values() if t["start"] >= crash["stop"] - 0.5
                and t["nodeid"] != crash["nodeid"]]
    assert requeued, "the crashing test's batch should have been requeued"
    # gw1, idle since long before the crash, takes what gw0 held: by stealing it while test_00
    # runs (all but test_01, which gw0 already knows as pytest's nextitem), or from the requeue
    # after the crash. Nothing gw1 could run waits for gw0's replacement.
    assert len(requeued) == 1 or "gw1" in {t["worker"] for t in requeued}, \
        [(t["nodeid"], t["worker"]) for t in requeued]
    assert all(t["outcome"] == "passed" for t in requeued)

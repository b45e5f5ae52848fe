"""Spares (`--spares`, zygote mode): each worker slot's next sandbox is forked and set up while
the slot's current one runs, and takes over when that one ends (a crash, or the next `--isolate`
unit). Asserted from the worker logs (a replacement's marker says whether it was a spare and
how long it had been ready) and from the run's cgroups (a spare has a leaf gw<i>-<n> of its
own): spares are used where they should be, never in spawn mode or with `--spares off`, and
none is left after -x, SIGTERM or a session timeout."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from helpers import (BULKHEAD, SYSTEM_PYTHON, bulkhead_cgroups, leaked_cgroups,
                     processes_with_env_marker, run_bulkhead, write_files)

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD not set")

MARKER = re.compile(r"---- bulkhead: (gw\d+) restarted \(replacement (\d+)(.*)\) ----")
SPARE_READY = re.compile(r", a spare sandbox ready (\d+) ms before it was needed")


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"


def replacement_notes(stdout):
    """(worker, replacement, note) of every replacement marker in the kept worker logs."""
    match = re.search(r"worker logs kept in (\S+)", stdout)
    assert match, stdout
    notes = []
    try:
        for name in sorted(os.listdir(match.group(1))):
            if name.endswith(".log") and name.startswith("gw"):
                with open(os.path.join(match.group(1), name)) as log:
                    notes += [(m.group(1), int(m.group(2)), m.group(3))
                              for m in MARKER.finditer(log.read())]
    finally:
        shutil.rmtree(match.group(1), ignore_errors=True)  # kept for this check only
    return notes


def spare_groups(pid):
    """The spare cgroup leaves (gw<i>-<n>) of the run whose supervisor is `pid`."""
    found = set()
    for run in bulkhead_cgroups():
        if not os.path.basename(run).startswith("bulkhead-%d-" % pid):
            continue
        try:
            found.update(n for n in os.listdir(run) if re.fullmatch(r"gw\d+-\d+", n))
        except OSError:
            pass  # removed meanwhile
    return found


def start(suite, *args, marker=None):
    env = dict(os.environ, COLUMNS="80")
    env.pop("PYTEST_ADDOPTS", None)
    if marker:
        env["SPARES_TEST_MARKER"] = marker
    command = [BULKHEAD, "run", "--python", SYSTEM_PYTHON, "--color", "no", "-p", "no:randomly",
               *args]
    return subprocess.Popen(command, cwd=str(suite), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def watch_spares(process, until=None, deadline_s=60):
    """Samples (time, spare leaves) every 50 ms while the run lives, or until `until(groups)`."""
    samples = []
    deadline = time.monotonic() + deadline_s
    while process.poll() is None and time.monotonic() < deadline:
        groups = spare_groups(process.pid)
        samples.append((time.time(), groups))
        if until and until(groups):
            break
        time.sleep(0.05)
    return samples


CRASH_LATER = {
    "test_crash.py": """
        import os, signal, time
        import pytest

        def test_0_crashes_later():
            time.sleep(3)  # the spare has long been ready
            os.kill(os.getpid(), signal.SIGSEGV)

        @pytest.mark.parametrize("n", range(5))
        def test_1_after(n):
            pass
        """,
}


def test_crashed_worker_is_replaced_by_its_spare(tmp_path):
    suite = write_files(tmp_path, CRASH_LATER)
    report = tmp_path / "r.json"
    result = run_bulkhead("-n", "1", "--zygote", "on", "--spares", "on", "-p", "no:randomly",
                          "--keep-logs", "--json", str(report), cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 5 passed" in result.stdout, result.stdout
    notes = replacement_notes(result.stdout)
    assert [(w, n) for w, n, _ in notes] == [("gw0", 1)], notes
    ready = SPARE_READY.search(notes[0][2])
    assert ready, notes  # the replacement was a sandbox set up before the crash
    assert int(ready.group(1)) >= 0
    tests = {t["nodeid"].split("::")[1]: t for t in json.loads(report.read_text())["tests"]}
    crashed = tests["test_0_crashes_later"]
    assert crashed["cause"] == "crash", crashed
    gap = min(t["start"] for name, t in tests.items() if name != "test_0_crashes_later") - \
        crashed["stop"]
    print("replacement (spare): first test %.1f ms after the crash was recorded" % (gap * 1000))
    assert 0 <= gap < 1.0, gap


@pytest.mark.parametrize("args", [("--zygote", "on", "--spares", "off"), ("--zygote", "off")])
def test_no_spares_when_off_or_spawned(tmp_path, args):
    suite = write_files(tmp_path, CRASH_LATER)
    process = start(suite, "-n", "1", "--keep-logs", *args)
    samples = watch_spares(process)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stdout + stderr
    assert "1 failed, 5 passed" in stdout, stdout
    assert [note for _, _, note in replacement_notes(stdout)] == [""], stdout
    assert samples and not any(groups for _, groups in samples), samples


def test_auto_makes_spares_once_a_worker_has_died(tmp_path):
    suite = write_files(tmp_path, {
        "test_twice.py": """
            import os, signal, time

            def test_0_crashes():
                time.sleep(1)
                os.kill(os.getpid(), signal.SIGSEGV)

            def test_1_waits():
                time.sleep(3)  # the spare made after the first death is ready

            def test_2_crashes():
                os.kill(os.getpid(), signal.SIGSEGV)

            def test_3_after():
                pass
            """,
    })
    report = tmp_path / "r.json"
    process = start(suite, "-n", "1", "--zygote", "on", "--no-record", "--keep-logs", "--json",
                    str(report))
    samples = watch_spares(process)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stdout + stderr
    assert "2 failed, 2 passed" in stdout, stdout
    first_death = json.loads(report.read_text())["tests"][0]
    assert first_death["nodeid"].endswith("test_0_crashes") and first_death["cause"] == "crash"
    before = [groups for when, groups in samples if when < first_death["stop"]]
    assert before and not any(before), samples  # none while no worker had died
    notes = replacement_notes(stdout)
    assert [(w, n) for w, n, _ in notes] == [("gw0", 1), ("gw0", 2)], notes
    assert notes[0][2] == "", notes  # the first replacement: a fork, as without spares
    assert SPARE_READY.search(notes[1][2]), notes  # the second: the spare made meanwhile


ISOLATED_SLOW = {
    "test_units.py": """
        import time
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_unit(n):
            time.sleep(1)
        """,
}


def test_isolate_test_units_start_in_spares(tmp_path):
    suite = write_files(tmp_path, ISOLATED_SLOW)
    result = run_bulkhead("-n", "2", "--isolate", "test", "--zygote", "on", "-p", "no:randomly",
                          "--keep-logs", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout, result.stdout
    notes = replacement_notes(result.stdout)
    # Six units on two slots: four sandboxes after the first two, each a spare made while its
    # slot's previous unit ran (a second spare at once is not requested while one is in flight,
    # so a spare may still be starting, never missing).
    assert len(notes) == 4, notes
    assert all(", a spare sandbox" in note for _, _, note in notes), notes


STOPPED = {
    "test_a.py": """
        import time

        def test_0_fails_later():
            time.sleep(3)
            assert False

        def test_1(): pass
        def test_2(): pass
        def test_3(): pass
        """,
    "test_b.py": """
        import time

        def test_0_slow():
            time.sleep(8)

        def test_1(): pass
        def test_2(): pass
        def test_3(): pass
        """,
}


def test_maxfail_ends_the_spares_at_once(tmp_path):
    suite = write_files(tmp_path, STOPPED)
    report = tmp_path / "r.json"
    process = start(suite, "-n", "2", "--zygote", "on", "--spares", "on", "--dist", "loadfile",
                    "-x", "--json", str(report))
    samples = watch_spares(process)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stdout + stderr
    tests = {t["nodeid"]: t for t in json.loads(report.read_text())["tests"]}
    failed = tests["test_a.py::test_0_fails_later"]["stop"]
    slow_end = tests["test_b.py::test_0_slow"]["stop"]
    before = [groups for when, groups in samples if when < failed]
    after = [groups for when, groups in samples if failed + 1.0 < when < slow_end - 0.5]
    assert any(before), samples  # both slots had spares while their tests ran
    assert after, samples  # the slow test went on after the stop
    assert not any(after), samples  # ...and no spare was left waiting


@pytest.mark.parametrize("how", ["SIGTERM", "session timeout"])
def test_nothing_is_left_of_the_spares(tmp_path, how):
    suite = write_files(tmp_path, {
        "test_slow.py": """
            import time
            import pytest

            @pytest.mark.parametrize("n", range(6))
            def test_slow(n):
                time.sleep(5)
            """,
    })
    marker = "spares-%d-%d" % (os.getpid(), time.time_ns())
    extra = ("--session-timeout", "6") if how == "session timeout" else ()
    process = start(suite, "-n", "2", "--zygote", "on", "--spares", "on", *extra, marker=marker)
    samples = watch_spares(process, until=lambda groups: len(groups) == 2)
    assert samples and len(samples[-1][1]) == 2, samples  # each slot's spare is there
    if how == "SIGTERM":
        process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stdout + stderr
    assert processes_with_env_marker(marker) == [], stdout
    assert spare_groups(process.pid) == set()

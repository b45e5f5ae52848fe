"""Integration (issue 11, run records): what `bulkhead run` records and `bulkhead runs` /
`bulkhead show` print.

The central check: on a suite with a crash and a timeout, the sequence each sandbox ran, as the
record says (worker, sandbox incarnation, position), equals what the workers themselves saw: a
conftest appends (PYTEST_XDIST_WORKER, a token made once per worker process, node id) to a
write-through file as each test starts. Run in zygote and spawn mode (ctest runs this file in
both). Also: --isolate and --retries sub-runs, secrets hashed, the default location and its
.gitignore, --no-record, concurrent runs pruning to 20, and the commands' errors (exit 2).
"""
import json
import os
import shutil
import subprocess
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import BULKHEAD, copy_suite, run_bulkhead

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"),
                                reason="BULKHEAD (the binary) not set")

CONFTEST = '''
import os
import uuid

_token = None  # made at the first test of each worker process (not in a zygote before forks)


def pytest_runtest_logstart(nodeid, location):
    global _token
    if _token is None:
        _token = uuid.uuid4().hex
    with open(os.path.join(os.path.dirname(__file__), "evidence", "ran.txt"), "a") as f:
        f.write("%s %s %s\\n" % (os.environ.get("PYTEST_XDIST_WORKER", "-"), _token, nodeid))
'''

FAULTS = '''
import ctypes
import os
import time


def test_crash():
    if os.environ.get("BULKHEAD_WORKER"):
        ctypes.string_at(0)  # SIGSEGV: the worker dies in this test


def test_hang():
    time.sleep(30)  # bounded; --timeout 2 ends it first
    raise AssertionError("not stopped")


def test_fails():
    assert 1 == 2
'''


def make_suite(root, files=3, per_file=15):
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(CONFTEST)
    (root / "evidence").mkdir()
    for f in range(files):
        body = "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(per_file))
        (root / f"test_plain_{f}.py").write_text(body)
    (root / "test_faults.py").write_text(FAULTS)
    return root


def bulkhead(*args, cwd, env=None, timeout=180):
    full = dict(os.environ if env is None else env)
    full.pop("PYTEST_ADDOPTS", None)
    full.setdefault("COLUMNS", "80")
    return subprocess.run([BULKHEAD, *args], cwd=str(cwd), env=full, capture_output=True,
                          text=True, timeout=timeout)


def read_record(runs_dir, run_id=None):
    runs_dir = Path(runs_dir)
    ids = [p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if run_id is None:
        assert len(ids) == 1, ids
        run_id = ids[0]
    run = json.loads((runs_dir / run_id / "run.json").read_text())
    lines = (runs_dir / run_id / "results.jsonl").read_text().splitlines()
    return run, [json.loads(line) for line in lines]


def sandbox_sequences(results, attempt=0):
    """(worker, sandbox) -> node ids in run order, from the record."""
    boxes = defaultdict(list)
    for test in results:
        if test.get("attempt", 0) != attempt or test["sandbox"] < 0:
            continue
        boxes[(test["worker"], test["sandbox"])].append((test["seq"], test["nodeid"]))
    out = {}
    for key, tests in boxes.items():
        tests.sort()
        assert [seq for seq, _ in tests] == list(range(len(tests))), (key, tests)
        out[key] = [nodeid for _, nodeid in tests]
    return out


def evidence_sequences(path):
    """token -> (worker, node ids in the order that process started them)."""
    seen = {}
    for line in Path(path).read_text().splitlines():
        worker, token, nodeid = line.split(" ", 2)
        seen.setdefault(token, (worker, []))[1].append(nodeid)
    return seen


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("faultrun")
    suite = make_suite(base / "suite")
    runs = base / "records"
    env = dict(os.environ, BULKHEAD_RECORD_DIR=str(runs), API_TOKEN="hunter2-secret")
    result = run_bulkhead("-n", "2", "--timeout", "2", "--write-through", "evidence",
                          "-p", "no:randomly", cwd=suite, env=env, timeout=240)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    run, results = read_record(runs)
    return suite, runs, env, result, run, results


def test_each_sandbox_sequence_is_what_the_worker_ran(fault_run):
    suite, _, _, _, run, results = fault_run
    recorded = sandbox_sequences(results)
    evidence = evidence_sequences(suite / "evidence" / "ran.txt")
    # Same sandboxes, same workers, the same tests in the same order.
    assert sorted((w, seq) for (w, _), seq in recorded.items()) == \
        sorted((w, seq) for w, seq in evidence.values())
    # The crash and the timeout each ended a sandbox: that worker got a replacement (#1+).
    by_node = {t["nodeid"]: t for t in results}
    crash, hang = by_node["test_faults.py::test_crash"], by_node["test_faults.py::test_hang"]
    assert crash["cause"] == "crash" and crash["outcome"] == "failed"
    assert hang["cause"] == "timeout" and hang["outcome"] == "failed"
    for test in (crash, hang):
        box = recorded[(test["worker"], test["sandbox"])]
        assert box[-1] == test["nodeid"], box  # nothing ran after it in that sandbox
    assert max(t["sandbox"] for t in results) >= 1
    # Every collected test once, with times.
    assert len(results) == run["collected"] == 48
    assert len({t["nodeid"] for t in results}) == 48
    assert all(t["stop"] >= t["start"] > 0 and t["duration"] >= 0 for t in results)
    mode = os.environ.get("BULKHEAD_ZYGOTE_MODE", "auto")
    assert run["settings"]["mode"] == ("spawn" if mode == "off" else "zygote")


def test_the_header_says_how_the_run_was_made(fault_run):
    suite, _, _, result, run, _ = fault_run
    assert run["finished"] is True and run["exit_code"] == 1
    assert run["argv"][0].endswith("bulkhead") and run["argv"][1] == "run"
    assert run["argv"][-2:] == ["-p", "no:randomly"]
    assert run["cwd"] == "." and run["rootdir"] == str(suite)
    assert run["versions"]["bulkhead"] and run["versions"]["pytest"] and run["versions"]["python"]
    assert run["settings"]["workers"] == 2 and run["settings"]["timeout_s"] == 2
    assert run["profile"]["name"] == "default"
    assert run["counts"]["failed"] == 3 and run["counts"]["passed"] == 45
    assert run["counts"]["crash"] == 1 and run["counts"]["timeout"] == 1
    # The env given to the workers: secrets hashed, the worker's own id per worker.
    assert run["env"]["API_TOKEN"].startswith("sha256:") and len(run["env"]["API_TOKEN"]) == 23
    assert "hunter2-secret" not in json.dumps(run)
    assert run["worker_env"]["gw1"]["PYTEST_XDIST_WORKER"] == "gw1"
    assert "PYTEST_XDIST_WORKER" not in run["env"]


def test_show_and_runs(fault_run):
    suite, runs, env, _, run, results = fault_run
    listing = bulkhead("runs", cwd=suite, env=env)
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1]
    assert row.startswith(run["run_id"]) and "3 failed, 45 passed" in row and " 1 " in row
    summary = bulkhead("show", cwd=suite, env=env)
    assert summary.returncode == 0, summary.stderr
    assert f"run {run['run_id']}" in summary.stdout
    assert "--timeout 2" in summary.stdout and "pytest " + run["versions"]["pytest"] in summary.stdout
    assert "ended by crash in test_faults.py::test_crash" in summary.stdout
    assert "ended by timeout in test_faults.py::test_hang" in summary.stdout
    crash = next(t for t in results if t["cause"] == "crash")
    shown = bulkhead("show", run["run_id"][:6], crash["nodeid"], cwd=suite, env=env)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith("test_faults.py::test_crash  FAILED (crash)")
    assert f"ran in: {crash['worker']}, sandbox #{crash['sandbox']}, position {crash['seq']}" in out
    assert f"({crash['seq']} tests before it in that sandbox)" in out or crash["seq"] == 1
    before = sandbox_sequences(results)[(crash["worker"], crash["sandbox"])][:-1]
    for nodeid in before[-5:]:
        assert nodeid in out
    assert f"bulkhead repro test_faults.py::test_crash --run {run['run_id']}" in out
    # A lone node id means the last run.
    assert bulkhead("show", crash["nodeid"], cwd=suite, env=env).stdout == out


def test_bad_inputs_are_named_with_exit_2(fault_run, tmp_path):
    suite, runs, env, _, run, _ = fault_run
    unknown = bulkhead("show", "zzzz", cwd=suite, env=env)
    assert unknown.returncode == 2 and "no run 'zzzz'" in unknown.stderr
    node = bulkhead("show", run["run_id"], "test_nope.py::test_x", cwd=suite, env=env)
    assert node.returncode == 2 and "no test 'test_nope.py::test_x'" in node.stderr
    empty = bulkhead("runs", "--record-dir", str(tmp_path / "none"), cwd=suite, env=env)
    assert empty.returncode == 2 and "no run records in" in empty.stderr
    # A damaged copy: its file and line are named.
    damaged = tmp_path / "damaged"
    shutil.copytree(runs, damaged)
    stream = damaged / run["run_id"] / "results.jsonl"
    lines = stream.read_text().splitlines(keepends=True)
    lines[2] = '{"index": "x"}\n'
    stream.write_text("".join(lines))
    bad = bulkhead("show", "--record-dir", str(damaged), cwd=suite, env=env)
    assert bad.returncode == 2
    assert f"{stream}:3: field 'index'" in bad.stderr, bad.stderr


def test_isolate_gives_every_test_its_own_sandbox(tmp_path):
    suite = make_suite(tmp_path / "suite", files=1, per_file=6)
    (suite / "test_faults.py").unlink()
    runs = tmp_path / "records"
    env = dict(os.environ, BULKHEAD_RECORD_DIR=str(runs))
    result = run_bulkhead("-n", "2", "--isolate", "test", "--write-through", "evidence",
                          "-p", "no:randomly", cwd=suite, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    _, results = read_record(runs)
    recorded = sandbox_sequences(results)
    assert len(recorded) == 6 and all(len(seq) == 1 for seq in recorded.values())
    evidence = evidence_sequences(suite / "evidence" / "ran.txt")
    assert sorted((w, s) for (w, _), s in recorded.items()) == sorted(evidence.values())


def test_retries_are_recorded_as_attempts(tmp_path):
    suite = copy_suite("retries", tmp_path)
    runs = tmp_path / "records"
    env = dict(os.environ, BULKHEAD_RECORD_DIR=str(runs))
    result = run_bulkhead("-n", "2", "--dist", "loadfile", "--retries", "1", "--write-through", "state",
                          "-p", "no:randomly", cwd=suite, env=env)
    assert "ORDER-DEPENDENT" in result.stdout, result.stdout[-3000:]
    run, results = read_record(runs)
    first = [t for t in results if t.get("attempt", 0) == 0]
    assert len(first) == run["collected"]
    retried = [t for t in results if t.get("attempt", 0) > 0]
    kinds = {t["kind"] for t in retried}
    assert kinds == {"alone", "replay"}, retried
    victim = [t for t in retried if t["nodeid"].endswith("test_victim")]
    replay = [t for t in victim if t["kind"] == "replay"]
    assert replay and replay[0]["outcome"] == "failed"
    # The replay ran the victim's predecessors first, in one sandbox, as the first run did.
    original = next(t for t in first if t["nodeid"].endswith("test_victim"))
    recorded = sandbox_sequences(results)[(original["worker"], original["sandbox"])]
    replayed = sandbox_sequences(results, replay[0]["attempt"])
    assert list(replayed.values()) == [recorded[:recorded.index(original["nodeid"]) + 1]]
    assert run["counts"].get("order-dependent") == 1
    # `bulkhead show` lists both attempts: alone it passed, replayed after the same tests it failed.
    shown = bulkhead("show", original["nodeid"], cwd=suite, env=env)
    assert shown.returncode == 0, shown.stderr
    alone = next(t for t in victim if t["kind"] == "alone")
    assert f"retry {alone['attempt']} (alone): PASSED in {alone['worker']}, " in shown.stdout, \
        shown.stdout
    before = recorded.index(original["nodeid"])
    tests = "test" if before == 1 else "tests"
    assert (f"retry {replay[0]['attempt']} (replay after {before} {tests}): FAILED in "
            f"{replay[0]['worker']}, ") in shown.stdout, shown.stdout


def test_default_location_gitignore_and_no_record(tmp_path):
    suite = make_suite(tmp_path / "suite", files=1, per_file=3)
    (suite / "test_faults.py").unlink()
    env = {k: v for k, v in os.environ.items() if k != "BULKHEAD_RECORD_DIR"}
    off = run_bulkhead("-n", "1", "--no-record", cwd=suite, env=env)
    assert off.returncode == 0, off.stderr
    assert not (suite / ".bulkhead").exists()
    sub = suite / "sub"
    sub.mkdir()
    on = run_bulkhead("-n", "1", "..", cwd=sub, env=env)
    assert on.returncode == 0, on.stderr
    assert (suite / ".bulkhead" / ".gitignore").read_text().splitlines()[-1] == "*"
    run, results = read_record(suite / ".bulkhead" / "runs")
    assert run["cwd"] == "sub" and len(results) == 3
    # `runs` finds them from a subdirectory too.
    listing = bulkhead("runs", cwd=sub, env=env)
    assert listing.returncode == 0 and run["run_id"] in listing.stdout


def test_concurrent_runs_prune_to_the_newest_twenty(tmp_path):
    suite = make_suite(tmp_path / "suite", files=1, per_file=2)
    (suite / "test_faults.py").unlink()
    runs = tmp_path / "records"
    env = dict(os.environ, BULKHEAD_RECORD_DIR=str(runs))
    first = run_bulkhead("-n", "1", cwd=suite, env=env)
    assert first.returncode == 0, first.stderr
    template_id = next(p.name for p in runs.iterdir() if not p.name.startswith("."))
    # 24 older finished records, copies of the first with earlier start times.
    for i in range(24):
        copy = runs / f"old{i:02d}"
        shutil.copytree(runs / template_id, copy)
        data = json.loads((copy / "run.json").read_text())
        data["run_id"], data["start_time"] = copy.name, 1000.0 + i
        (copy / "run.json").write_text(json.dumps(data))
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda _: run_bulkhead("-n", "1", cwd=suite, env=env), range(4)))
    assert all(r.returncode == 0 for r in done), [r.stderr for r in done]
    left = sorted(p.name for p in runs.iterdir())
    assert not [name for name in left if name.startswith(".")], left
    assert len(left) == 20, left
    assert template_id in left and sum(not n.startswith("old") for n in left) == 5
    # The oldest went first.
    assert [n for n in left if n.startswith("old")] == [f"old{i:02d}" for i in range(9, 24)]

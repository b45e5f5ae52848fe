"""Integration: the host session (pytest-xdist's controller on the host) on
tests/suites/host_session: workerinput at configure time, workeroutput and
pytest_testnodedown (with the error for a dead worker, a fresh node for its replacement),
reports replayed on the host, plugin summary sections; and a host session that dies or hangs
is named and the run goes on, bounded."""
import json
import os
import shutil
import time

from helpers import copy_suite, run_bulkhead


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_suite(tmp_path, *args, workers="2", env_extra=None, timeout=240):
    suite = copy_suite("host_session", tmp_path)
    record = tmp_path / "record.jsonl"
    env = dict(os.environ, HOST_SESSION_RECORD=str(record), **(env_extra or {}))
    started = time.monotonic()
    result = run_bulkhead("-n", workers, *args, cwd=suite, env=env, timeout=timeout)
    return result, records(record), time.monotonic() - started


def test_each_worker_gets_its_workerinput_and_returns_its_workeroutput(tmp_path):
    result, events, _ = run_suite(tmp_path)
    out = result.stdout
    assert result.returncode == 0 and "7 passed" in out, out + result.stderr
    assert "host session: conftest.py (conftest.py and plugins also run on the host, " \
        "unsandboxed" in out
    # The zygote says why it does not fork (it used to die configuring and say only that).
    assert "not forked: the host session configures each worker (conftest.py)" in out, out
    assert "the zygote ended" not in out, out
    assert sorted(e["worker"] for e in events if e["hook"] == "configure_node") == ["gw0", "gw1"]
    down = [e for e in events if e["hook"] == "testnodedown"]
    assert sorted(e["dropped"] for e in down) == ["orm_gw0", "orm_gw1"], events
    assert not [e for e in down if e["error"]]
    calls = {e["nodeid"]: e["outcome"] for e in events if e["hook"] == "logreport"}
    assert len(calls) == 7 and set(calls.values()) == {"passed"}, events
    assert out.index("orm databases dropped") < out.index("= 7 passed")


def test_dead_worker_gets_testnodedown_with_the_error_and_its_replacement_a_new_node(tmp_path):
    # One worker: when it dies in its first test, a replacement must take the other six.
    result, events, _ = run_suite(tmp_path, workers="1", env_extra={"HOST_SESSION_CRASH": "1"})
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 6 passed" in out, out
    assert "CRASHED test_a_dies.py::test_worker_dies_first - Crash: worker gw0" in out
    configured = [e["worker"] for e in events if e["hook"] == "configure_node"]
    assert configured == ["gw0", "gw0"], events
    down = [e for e in events if e["hook"] == "testnodedown"]
    assert [bool(e["error"]) for e in down] == [True, False], events
    assert "exited with status 3" in down[0]["error"]
    assert down[0]["dropped"] is None  # its workeroutput died with it
    assert down[1]["dropped"] == "orm_gw0"
    # The host saw every test's report once, the crash as a failure.
    calls = {e["nodeid"]: e["outcome"] for e in events if e["hook"] == "logreport"}
    assert len(calls) == 7 and calls["test_a_dies.py::test_worker_dies_first"] == "failed"
    # The conftest's own terminal section, where pytest prints it.
    assert out.index("= FAILURES =") < out.index("orm databases dropped") < out.index(
        "short test summary info")


def test_nothing_that_needs_it_starts_no_host_session(tmp_path):
    suite = copy_suite("scoped", tmp_path)
    result = run_bulkhead("-n", "2", "--keep-logs", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "host session:" not in result.stdout
    logs = [line.split("worker logs kept in ")[1] for line in result.stdout.splitlines()
            if line.startswith("worker logs kept in ")]
    assert len(logs) == 1 and os.path.isdir(logs[0])
    assert "controller.log" not in os.listdir(logs[0])
    shutil.rmtree(logs[0])


def test_dead_host_session_is_named_and_the_run_goes_on(tmp_path):
    result, events, elapsed = run_suite(tmp_path, env_extra={"HOST_SESSION_MODE": "die"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bulkhead: the host session (pytest-xdist's controller) exited; the run goes on " \
        "without it" in result.stdout, result.stdout
    assert "7 passed" in result.stdout
    assert not [e for e in events if e["hook"] == "configure_node"]


def test_hanging_host_session_is_bounded_at_start_and_at_finish(tmp_path):
    for mode, bound, verb in (("hang-start", "START", "start"), ("hang-finish", "FINISH", "finish")):
        result, _, elapsed = run_suite(tmp_path / mode, env_extra={
            "HOST_SESSION_MODE": mode, "BULKHEAD_CONTROLLER_%s_TIMEOUT" % bound: "3"})
        assert "the host session (pytest-xdist's controller) did not %s within 3 s" % verb in \
            result.stdout, result.stdout
        assert result.returncode == 0 and "7 passed" in result.stdout, result.stdout
        assert elapsed < 60


def test_controller_off_is_said_once(tmp_path):
    result, events, _ = run_suite(tmp_path, "--controller", "off",
                                  env_extra={"HOST_SESSION_MODE": "die"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("the host session is off (--controller off), though "
                               "conftest.py needs it") == 1, result.stdout
    assert not events


def test_reading_a_missing_workerinput_key_starts_the_host_session(tmp_path):
    suite = copy_suite("host_session_lazy", tmp_path)
    result = run_bulkhead("-n", "2", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "host session: config.workerinput['lazy_seed'] read at " \
        "host_session_lazy/conftest.py:14" in result.stdout, result.stdout

"""pytest's cache under bulkhead behaves as under `pytest -n 2` across runs: the last-failed set
written once by the host side (--lf runs only the failures, --ff, --nf), stepwise (--sw),
--cache-show and --cache-clear. Each runner works on its own copy of the suite."""
import json

from compat import copy_suite, require, run

FAILURES = {"tests/test_a.py::test_a3_fails_until_fixed": True,
            "tests/test_b.py::test_b2_fails_until_fixed": True}
FIXED = {"COMPAT_FIXED": "1"}


def cached(suite, key):
    path = suite / ".pytest_cache" / "v" / "cache" / key
    return json.loads(path.read_text()) if path.exists() else None


def copies(tmp_path, runners=("xdist", "bulkhead")):
    return {runner: copy_suite("cache", tmp_path / runner) for runner in runners}


def test_last_failed_runs_only_the_failures(tmp_path):
    require("xdist")
    for runner, suite in copies(tmp_path).items():
        first = run(runner, suite)
        assert first.returncode == 1 and first.closing == "2 failed, 5 passed", first
        assert cached(suite, "lastfailed") == FAILURES, runner
        assert cached(suite, "stepwise") == [], runner
        again = run(runner, suite, "--lf")
        assert again.returncode == 1, again
        assert again.outcomes == {"tests.test_a::test_a3_fails_until_fixed": "failed",
                                  "tests.test_b::test_b2_fails_until_fixed": "failed"}, again
        if runner == "bulkhead":  # as plain pytest prints it (pytest -n 2 does not)
            assert "run-last-failure: rerun previous 2 failures" in again.out
        fixed = run(runner, suite, "--lf", env=FIXED)
        assert fixed.returncode == 0 and fixed.closing == "2 passed", fixed
        assert cached(suite, "lastfailed") == {}, runner
        nothing = run(runner, suite, "--lf", env=FIXED)
        assert nothing.closing == "7 passed", nothing  # no known failures: everything runs


def test_failed_first_and_new_first(tmp_path):
    # pytest -n 2 never writes cache/nodeids (its controller collects nothing), so --nf there
    # sees every test as new; bulkhead writes it as plain pytest does.
    require("xdist")
    nodeids = {}
    for runner, suite in copies(tmp_path, ("pytest", "bulkhead")).items():
        assert run(runner, suite).returncode == 1
        first = run(runner, suite, "--ff")
        assert first.closing == "2 failed, 5 passed", first
        assert cached(suite, "lastfailed") == FAILURES
        (suite / "tests" / "test_c.py").write_text("def test_c_new():\n    pass\n")
        new = run(runner, suite, "--nf", env=FIXED)
        assert new.returncode == 0 and new.closing == "8 passed", new
        nodeids[runner] = cached(suite, "nodeids")
        assert "tests/test_c.py::test_c_new" in nodeids[runner]
        assert cached(suite, "lastfailed") == {}
    assert nodeids["bulkhead"] == nodeids["pytest"]
    assert len(nodeids["bulkhead"]) == 8


def test_stepwise_across_runs(tmp_path):
    require("xdist")
    stepwise = {}
    for runner, suite in copies(tmp_path).items():
        first = run(runner, suite, "--sw", "-k", "test_a")
        assert first.returncode == 1, first
        assert "Test failed, continuing from this test next run." in first.out
        assert cached(suite, "stepwise") == "tests/test_a.py::test_a3_fails_until_fixed"
        second = run(runner, suite, "--sw", "-k", "test_a", env=FIXED)
        assert second.returncode == 0, second
        assert set(second.outcomes) == {"tests.test_a::test_a3_fails_until_fixed",
                                        "tests.test_a::test_a4"}, second
        stepwise[runner] = cached(suite, "stepwise")
    assert stepwise["bulkhead"] == stepwise["xdist"] is None


def test_cache_show_and_clear(tmp_path):
    require("xdist")
    for runner, suite in copies(tmp_path).items():
        assert run(runner, suite).returncode == 1
        shown = run(runner, suite, "--cache-show", xml=False)
        assert shown.returncode == 0, shown
        assert "cache/lastfailed contains:" in shown.out, shown
        assert "'tests/test_b.py::test_b2_fails_until_fixed': True" in shown.out
        cleared = run(runner, suite, "--cache-clear", "-k", "test_b1")
        assert cleared.returncode == 0, cleared
        assert cached(suite, "lastfailed") is None, runner  # cleared, and nothing failed since
        expected = [] if runner == "xdist" else ["tests/test_b.py::test_b1"]  # see above
        assert cached(suite, "nodeids") == expected, runner

"""Hypothesis' example database (.hypothesis/, written through to the host by the default
profile when it exists, or by --write-through): a failing example found in a worker is replayed
first in the next run, as under `pytest -n 2`. Without the write-through it is lost with the
worker's overlay."""

from compat import copy_suite, require, run

REUSE_ONLY = {"COMPAT_REUSE_ONLY": "1"}
FALSIFYING = "n=1000,"


def falsified(result):
    return result.returncode == 1 and FALSIFYING in result.out


def test_failing_example_is_replayed_in_the_next_run(tmp_path):
    require("hypothesis", "xdist")
    for runner in ("xdist", "bulkhead"):
        suite = copy_suite("hypothesis", tmp_path / runner)
        if runner == "bulkhead":
            (suite / ".hypothesis").mkdir()  # as left by an earlier run of plain pytest
        first = run(runner, suite)
        assert falsified(first), first
        assert any((suite / ".hypothesis" / "examples").iterdir()), runner
        replay = run(runner, suite, env=REUSE_ONLY)
        assert falsified(replay), replay
        assert replay.outcomes["tests.test_property::test_below_a_thousand"] == "failed"


def test_named_write_through_is_created_and_replayed(tmp_path):
    require("hypothesis")
    suite = copy_suite("hypothesis", tmp_path / "bulkhead")
    first = run("bulkhead", suite, options=("--write-through", ".hypothesis"))
    assert falsified(first), first
    assert any((suite / ".hypothesis" / "examples").iterdir())
    replay = run("bulkhead", suite, env=REUSE_ONLY)  # the default profile: it exists now
    assert falsified(replay), replay


def test_without_write_through_the_example_is_lost(tmp_path):
    require("hypothesis")
    # The default profile names .hypothesis, but does not create it: it is not written through.
    suite = copy_suite("hypothesis", tmp_path / "bulkhead")
    first = run("bulkhead", suite)
    assert falsified(first), first
    assert not (suite / ".hypothesis").exists()
    replay = run("bulkhead", suite, env=REUSE_ONLY)
    assert replay.returncode == 0, replay  # nothing to replay: the overlay took it

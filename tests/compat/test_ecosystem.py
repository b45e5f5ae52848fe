"""Plugins that need nothing from the controller give, under bulkhead, what they give under
`pytest -n 2` and plain pytest: pytest-asyncio, pytest-mock, pytest-subtests,
pytest-localserver (a server on the worker's own loopback), pytest-lazy-fixture,
pytest-benchmark (run mode and --benchmark-disable) and pytest-timeout (marker and ini value,
enforced by bulkhead's supervisor)."""
from compat import require, run_each

PLUGINS = ("pytest_asyncio", "pytest_mock", "pytest_subtests", "pytest_localserver",
           "pytest_lazyfixture", "pytest_benchmark", "pytest_timeout", "xdist")


def test_outcomes_and_counts_are_pytest_n_2s(tmp_path):
    require(*PLUGINS)
    runs = run_each(tmp_path, "ecosystem")
    pytest_, xdist, bulkhead = runs["pytest"], runs["xdist"], runs["bulkhead"]
    assert bulkhead.returncode == xdist.returncode == pytest_.returncode == 1, runs
    assert bulkhead.outcomes == xdist.outcomes == pytest_.outcomes, runs
    expected_failures = {"tests.test_asyncio::test_async_failure",
                         "tests.test_subtests::test_with_subtests",
                         "tests.test_timeout::test_marker_timeout",
                         "tests.test_timeout::test_ini_timeout"}
    failed = {name for name, outcome in bulkhead.outcomes.items() if outcome == "failed"}
    assert failed == expected_failures, bulkhead
    assert len(bulkhead.outcomes) == 12
    assert bulkhead.closing == xdist.closing == "5 failed, 9 passed, 2 subtests passed", runs
    lines = bulkhead.out.splitlines()
    assert "TIMEOUT tests/test_timeout.py::test_marker_timeout - Timeout: test exceeded 1s" in lines
    assert "TIMEOUT tests/test_timeout.py::test_ini_timeout - Timeout: test exceeded 3s" in lines
    assert sum(line.startswith("SUBFAIL tests/test_subtests.py") for line in lines) == 2


def test_benchmark_disabled(tmp_path):
    require(*PLUGINS)
    runs = run_each(tmp_path, "ecosystem", "--benchmark-disable", "-k", "fib",
                    runners=("xdist", "bulkhead"), env={"COMPAT_BENCHMARK_DISABLED": "1"})
    for result in runs.values():
        assert result.returncode == 0, result
        assert result.outcomes == {"tests.test_benchmark::test_fib": "passed"}, result

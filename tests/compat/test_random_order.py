"""pytest-random-order: one seed for all workers (their collections must agree, or the run is
refused as under xdist), and the same seed gives the same order again: the order bulkhead's
workers agreed on is plain pytest's `--collect-only` order for that seed."""
import json
import subprocess

from compat import PYTHON, copy_suite, environment, require, run


def agreed_order(result, report):
    tests = json.loads(report.read_text())["tests"]
    assert len(tests) == 18, result
    return [test["nodeid"] for test in sorted(tests, key=lambda test: test["index"])]


def pytest_order(suite, seed):
    listing = subprocess.run([PYTHON, "-m", "pytest", "--collect-only", "-q", "--random-order",
                              "--random-order-seed=%d" % seed], cwd=suite, env=environment(),
                             capture_output=True, text=True, timeout=120)
    return [line for line in listing.stdout.splitlines() if "::" in line]


def test_one_seed_for_all_workers_reproducible(tmp_path):
    require("random_order", "xdist")
    suite = copy_suite("random_order", tmp_path)
    orders = []
    for options in ((), ("--controller", "on")):
        report = suite / "order.json"
        result = run("bulkhead", suite, "--random-order-seed=4321", options=(*options, "--json",
                                                                               str(report)))
        assert result.returncode == 0, result
        assert "Using --random-order-seed=4321" in result.out
        orders.append(agreed_order(result, report))
    expected = pytest_order(suite, 4321)
    assert orders == [expected] * 2
    assert expected != sorted(expected), "the seed did not shuffle anything"


def test_random_seed_is_shared(tmp_path):
    require("random_order", "xdist")
    suite = copy_suite("random_order", tmp_path)
    for options in ((), ("--controller", "on")):
        report = suite / "order.json"
        result = run("bulkhead", suite, "--random-order",
                     options=(*options, "--json", str(report)))
        assert result.returncode == 0, result  # workers that disagreed would end it with 3
        seed = next(line for line in result.out.splitlines()
                    if line.startswith("Using --random-order-seed="))
        assert agreed_order(result, report) == pytest_order(suite, int(seed.split("=")[1]))
    xdist = run("xdist", suite, "--random-order")
    assert xdist.returncode == 0, xdist

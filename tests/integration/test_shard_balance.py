"""Integration (issue "shards"): shards split by durations finish together, and pytest-split's
`.test_durations` goes both ways unchanged. The balance figure is printed (pytest -s shows it)."""
import json
import os
import re
import statistics
import time

import pytest

from generated_suites import skewed, write_suite
from helpers import leaked_cgroups, run_bulkhead

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD (the binary) not set")


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"


def test_four_shards_by_durations_finish_together(tmp_path):
    """A few 2 s tests among many 10 ms ones: the slowest shard's wall <= 1.15 x the mean."""
    suite = tmp_path / "suite"
    write_suite(str(suite), skewed(long_tests=8, long_s=2.0, short_tests=400, short_s=0.01))
    first = run_bulkhead("-n", "2", "-q", "--store-durations", cwd=suite, timeout=240)
    assert first.returncode == 0, first.stdout[-3000:]
    walls = []
    for shard in range(1, 5):
        started = time.monotonic()
        result = run_bulkhead("-n", "1", "--shard", f"{shard}/4", cwd=suite, timeout=240)
        walls.append(time.monotonic() - started)
        assert result.returncode == 0, result.stdout[-3000:]
        assert re.search(rf"shard {shard}/4 \(--shard {shard}/4\): \d+ of 408 tests, expected "
                         r"[0-9.]+ s of [0-9.]+ s \(durations from \.test_durations: 408 of 408 "
                         r"known\)", result.stdout), result.stdout[-2000:]
    ratio = max(walls) / statistics.mean(walls)
    print(f"shard walls {[round(w, 2) for w in walls]} s: slowest / mean = {ratio:.3f}")
    assert ratio <= 1.15, walls


def test_test_durations_round_trip_in_pytest_splits_format(tmp_path):
    suite = tmp_path / "suite"
    expected = write_suite(str(suite), {"test_a.py": [0.01] * 6, "test_b.py": [0.3, 0.01]})
    result = run_bulkhead("-n", "2", "--store-durations", cwd=suite)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "stored test durations in .test_durations" in result.stdout
    text = (suite / ".test_durations").read_text()
    durations = json.loads(text)
    assert set(durations) == set(expected)
    assert durations["test_b.py::test_000_300ms"] >= 0.3
    # Byte for byte what pytest-split's json.dump(sort_keys=True, indent=4) writes.
    assert text == json.dumps(durations, sort_keys=True, indent=4)

    # A file pytest-split wrote (its older list format too) splits the next run: the one long
    # test alone in shard 1, everything else in shard 2.
    for document in ({**{k: 0.01 for k in expected}, "test_a.py::test_003_10ms": 100.0},
                     [[k, 100.0 if k == "test_a.py::test_003_10ms" else 0.01] for k in expected]):
        (suite / "split.json").write_text(json.dumps(document, indent=4))
        one = run_bulkhead("-n", "1", "--shard", "1/2", "--durations-path", "split.json",
                           "-v", cwd=suite)
        assert one.returncode == 0, one.stdout[-3000:]
        assert "1 of 8 tests, expected 100.0 s of 100.1 s" in one.stdout, one.stdout[-2000:]
        assert "PASSED test_a.py::test_003_10ms" in one.stdout
    # Stored again, the entries of tests not run this time stay.
    (suite / ".test_durations").write_text(json.dumps({"gone.py::test": 7.0}, indent=4))
    again = run_bulkhead("-n", "1", "--shard", "2/2", "--store-durations", cwd=suite)
    assert again.returncode == 0, again.stdout[-3000:]
    stored = json.loads((suite / ".test_durations").read_text())
    assert stored["gone.py::test"] == 7.0 and len(stored) > 1


def test_bad_shard_specs_and_durations_files_are_refused(tmp_path):
    suite = tmp_path / "suite"
    write_suite(str(suite), {"test_a.py": [0.01]})
    env = dict(os.environ, CI_NODE_INDEX="0", CI_NODE_TOTAL="4")
    result = run_bulkhead("--shard", "auto", cwd=suite, env=env)
    assert result.returncode == 4
    assert "CI_NODE_INDEX=0 is out of range" in result.stderr
    result = run_bulkhead("--shard", "5/4", cwd=suite)
    assert result.returncode == 4 and "--shard 5/4" in result.stderr
    (suite / ".test_durations").write_text('{"test_a.py::t": "slow"}')
    result = run_bulkhead(cwd=suite)
    assert result.returncode == 4
    assert '.test_durations: "test_a.py::t": expected a duration in seconds' in result.stderr

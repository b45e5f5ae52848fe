"""Integration: the run records order the next run's work. A 1.5 s test at the end of the
collection runs among the last without durations; once a run has recorded it, the next run
hands it out first (long tests first), with no `.test_durations` anywhere; `--no-record`
neither writes nor reads records."""
import json

from helpers import leaked_cgroups, run_bulkhead

QUICK = 40
SLOW = "test_z.py::test_slow"


def _suite(root):
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "test_a.py").write_text(
        "import time\nimport pytest\n\n"
        f"@pytest.mark.parametrize('i', range({QUICK}))\n"
        "def test_quick(i):\n    time.sleep(0.03)\n")
    (root / "test_z.py").write_text("import time\n\ndef test_slow():\n    time.sleep(1.5)\n")
    return root


def _rank_of_slow(suite, report, *extra):
    # Its own records only (ctest points BULKHEAD_RECORD_DIR at a directory all tests share).
    result = run_bulkhead("-n", "2", "-p", "no:randomly", "--json", report,
                          "--record-dir", str(suite / "records"), *extra, cwd=suite)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    tests = json.loads((suite / report).read_text())["tests"]
    order = [t["nodeid"] for t in sorted(tests, key=lambda t: t["start"])]
    return order.index(SLOW)


def test_records_put_a_long_test_first(tmp_path):
    suite = _suite(tmp_path / "suite")
    assert _rank_of_slow(suite, "r0.json", "--no-record") >= QUICK - 4  # collection order
    assert not (suite / "records").exists()
    assert _rank_of_slow(suite, "r1.json") >= QUICK - 4  # nothing recorded yet
    assert _rank_of_slow(suite, "r2.json") <= 1  # the record of r1 says it is long
    assert _rank_of_slow(suite, "r3.json", "--no-record") >= QUICK - 4  # records not read
    assert not (suite / ".test_durations").exists()
    assert leaked_cgroups() == []

"""Integration: `bulkhead run` end to end on tests/suites/run_basic (outcomes, output, reports)."""
import json
import os
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

BULKHEAD = os.environ.get("BULKHEAD", "")
SOURCE = Path(os.environ.get("BULKHEAD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SUITES = SOURCE / "tests" / "suites"

pytestmark = pytest.mark.skipif(not BULKHEAD, reason="BULKHEAD (the binary) not set")


def run(*args, cwd=SUITES / "run_basic", timeout=120):
    env = dict(os.environ, COLUMNS="80")
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [BULKHEAD, "run", "--python", "/usr/bin/python3", "--color", "no", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_outcomes_match_pytest_closing_line():
    result = run("-n", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert "2 failed, 15 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 warning, 1 error in " in last
    assert last.startswith("=") and last.endswith("=")
    assert "collected 21 items" in result.stdout
    assert "FAILED test_outcomes.py::test_fail - assert 2 == 3" in result.stdout
    assert "ERROR test_outcomes.py::test_setup_error - RuntimeError: fixture broke" in result.stdout
    assert "____ test_fail ____" in result.stdout
    assert "ERROR at setup of test_setup_error" in result.stdout
    assert "Captured stdout call" in result.stdout and "hello from stdout" in result.stdout
    assert "2 workers" in result.stdout


def test_quiet_drops_padding_and_header():
    result = run("-n", "2", "-q", "-k", "square")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("6 passed, 15 deselected in ")
    assert "test session starts" not in result.stdout


def test_verbose_lines_name_the_worker():
    result = run("-n", "2", "-v", "-k", "square")
    assert result.returncode == 0
    verbose = [line for line in result.stdout.splitlines() if " PASSED " in line]
    assert len(verbose) == 6
    assert all(line.startswith("[gw") for line in verbose)


def test_worker_env_and_fixtures():
    result = run("-n", "2", "-k", "worker_env")
    assert result.returncode == 0, result.stdout


def test_never_more_workers_than_tests():
    result = run("-n", "2", "-k", "test_pass")
    assert result.returncode == 0
    assert "1 passed" in result.stdout


def test_no_tests_collected_exits_5():
    result = run("-n", "2", "-k", "no_such_test_anywhere")
    assert result.returncode == 5, result.stdout


def test_exitfirst_reports_what_ran(tmp_path):
    report = tmp_path / "r.json"
    result = run("-n", "1", "-x", "--json", str(report), "-p", "no:randomly")
    assert result.returncode == 1
    assert "stopping after 1 failures" in result.stdout
    data = json.loads(report.read_text())
    ran = [t for t in data["tests"]]
    assert 0 < len(ran) < 21


def test_junit_and_json_reports(tmp_path):
    junit = tmp_path / "junit.xml"
    report = tmp_path / "report.json"
    result = run("-n", "2", "--junitxml", str(junit), "--json", str(report))
    assert result.returncode == 1
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 21
    assert len({(c.get("classname"), c.get("name")) for c in cases}) == 21
    data = json.loads(report.read_text())
    assert len(data["tests"]) == 21


def test_pytest_usage_error_exits_4():
    result = run("-n", "2", "--no-such-pytest-option")
    assert result.returncode == 4
    assert "unrecognized arguments" in result.stdout + result.stderr


def test_bad_bulkhead_option_value_exits_4():
    result = run("-n", "zero")
    assert result.returncode == 4
    assert "zero" in result.stderr


def test_live_output_with_s():
    result = run("-n", "1", "-s", "-k", "output_on_failure")
    assert "[gw0] hello from stdout" in result.stdout


def test_collection_mismatch_exits_3(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "import os\n"
        "def pytest_collection_modifyitems(items):\n"
        "    if os.environ.get('PYTEST_XDIST_WORKER') == 'gw1':\n"
        "        del items[-1:]\n"
    )
    (suite / "test_x.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = run("-n", "2", cwd=suite)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Different tests were collected between" in result.stdout
    assert "test_x.py::test_b" in result.stdout


def test_collection_error_interrupts(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_ok.py").write_text("def test_a():\n    pass\n")
    (suite / "test_broken.py").write_text("import no_such_module_here\n")
    result = run("-n", "2", cwd=suite)
    assert result.returncode == 2, result.stdout
    assert "ERROR collecting test_broken.py" in result.stdout
    assert "Interrupted: 1 error during collection" in result.stdout

"""Integration (issue "bulkhead run"): `bulkhead run` on every fixture suite in tests/suites
(see its README for the expected counts) and on the collisions demo. Each suite is copied to
tmp_path first, so no run writes into the repository. Where plain pytest is the reference, it
runs on the same copy and the closing counts and exit codes must be equal."""
import json
import os
import shutil
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import pytest

from helpers import (SOURCE_DIR, closing_counts, copy_suite, leaked_cgroups, run_bulkhead,
                     run_pytest)

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD (the binary) not set")


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"


def junit_counts(path):
    suite = ElementTree.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {key: int(suite.get(key)) for key in ("tests", "failures", "errors", "skipped")}


def junit_case_counts(path):
    """Counts from the <testcase> children themselves, not the attributes."""
    suite = ElementTree.parse(path).getroot().find("testsuite")
    counts = Counter(tests=0, failures=0, errors=0, skipped=0)
    for case in suite.findall("testcase"):
        counts["tests"] += 1
        counts["failures"] += len(case.findall("failure"))
        counts["errors"] += len(case.findall("error"))
        counts["skipped"] += len(case.findall("skipped"))
    return dict(counts)


def test_collisions_demo_is_green(tmp_path):
    demo = Path(SOURCE_DIR) / "examples" / "collisions"
    target = tmp_path / "collisions"
    shutil.copytree(demo, target, ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.txt"))
    report = tmp_path / "r.json"
    result = run_bulkhead("-n", "2", "--json", str(report), cwd=target, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert closing_counts(result.stdout) == "8 passed"
    tests = json.loads(report.read_text())["tests"]
    assert len(tests) == 8 and {t["outcome"] for t in tests} == {"passed"}
    assert {t["worker"] for t in tests} == {"gw0", "gw1"}  # really in parallel


def test_trivial_2000_each_reported_exactly_once(tmp_path):
    suite = copy_suite("trivial_2000", tmp_path)
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    result = run_bulkhead("-n", "2", "--json", str(report), "--junitxml", str(junit), cwd=suite,
                          timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    assert closing_counts(result.stdout) == "2000 passed"
    data = json.loads(report.read_text())
    ids = Counter(t["nodeid"] for t in data["tests"])
    expected = {f"test_trivial_{f:02d}.py::test_trivial[{i}]" for f in range(20) for i in range(100)}
    assert set(ids) == expected and max(ids.values()) == 1
    assert {t["outcome"] for t in data["tests"]} == {"passed"}
    assert data["summary"]["tests"] == data["summary"]["passed"] == 2000
    assert junit_counts(junit) == {"tests": 2000, "failures": 0, "errors": 0, "skipped": 0}
    assert junit_case_counts(junit)["tests"] == 2000
    suite_el = ElementTree.parse(junit).getroot().find("testsuite")
    names = {(c.get("classname"), c.get("name")) for c in suite_el.findall("testcase")}
    assert len(names) == 2000


def test_collection_error_interrupts_with_exit_2(tmp_path):
    suite = copy_suite("collection_error", tmp_path)
    result = run_bulkhead("-n", "2", cwd=suite)
    plain = run_pytest(cwd=suite)
    assert plain.returncode == 2
    assert result.returncode == 2, result.stdout[-3000:]
    assert closing_counts(result.stdout) == closing_counts(plain.stdout) == "1 error"
    assert "ERROR collecting test_broken.py" in result.stdout
    assert "SyntaxError" in result.stdout
    assert "Interrupted: 1 error during collection" in result.stdout
    assert "passed" not in result.stdout  # nothing ran


def test_collection_error_continue_runs_the_rest(tmp_path):
    suite = copy_suite("collection_error", tmp_path)
    result = run_bulkhead("-n", "2", "--continue-on-collection-errors", cwd=suite)
    plain = run_pytest("--continue-on-collection-errors", cwd=suite)
    assert (result.returncode, plain.returncode) == (1, 1), result.stdout[-3000:]
    assert closing_counts(result.stdout) == closing_counts(plain.stdout) == "8 passed, 1 error"


def test_mismatch_exits_3_naming_worker_and_ids(tmp_path):
    suite = copy_suite("mismatch", tmp_path)
    result = run_bulkhead("-n", "2", cwd=suite)
    assert result.returncode == 3, result.stdout[-3000:]
    out = result.stdout
    assert "Different tests were collected between gw0 and gw1" in out or \
        "Different tests were collected between gw1 and gw0" in out, out[-3000:]
    assert "test_mismatch.py::test_named_after_worker[gw0]" in out
    assert "test_mismatch.py::test_named_after_worker[gw1]" in out


def maxfail_run(tmp_path, *args, workers="2"):
    suite = copy_suite("maxfail", tmp_path)
    report = tmp_path / "r.json"
    result = run_bulkhead("-n", workers, "-p", "no:randomly", *args, "--json", str(report),
                          cwd=suite)
    return suite, result, json.loads(report.read_text())


@pytest.mark.parametrize("args,failures", [(["-x"], 1), (["--maxfail", "3"], 3)])
def test_maxfail_one_worker_matches_pytest(tmp_path, args, failures):
    suite, result, data = maxfail_run(tmp_path, *args, workers="1")
    plain = run_pytest(*args, cwd=suite)
    assert result.returncode == plain.returncode == 1
    assert closing_counts(result.stdout) == closing_counts(plain.stdout)
    assert f"stopping after {failures} failures" in result.stdout
    assert len(data["tests"]) == {1: 3, 3: 6}[failures]  # exactly what ran


@pytest.mark.parametrize("args,failures", [(["-x"], 1), (["--maxfail", "3"], 3)])
def test_maxfail_two_workers_reports_exactly_what_ran(tmp_path, args, failures):
    _, result, data = maxfail_run(tmp_path, *args)
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"stopping after {failures} failures" in result.stdout
    tests = data["tests"]
    failed = [t for t in tests if t["outcome"] == "failed"]
    passed = [t for t in tests if t["outcome"] == "passed"]
    # Every reported test ran (it has a call phase); none is padded in as "not run".
    assert all(any(p["when"] == "call" for p in t["phases"]) for t in tests)
    assert data["summary"]["notrun"] == 0 and "not run" not in result.stdout
    # A test already running on the other worker may fail too; no more are handed out.
    assert failures <= len(failed) <= failures + 1
    assert len(tests) < 10
    # pytest leaves zero counts out of its closing line ("2 failed" when none passed).
    expected = ", ".join(f"{n} {word}" for n, word in ((len(failed), "failed"),
                                                       (len(passed), "passed")) if n)
    assert closing_counts(result.stdout) == expected
    assert len(tests) == len(failed) + len(passed)


def test_k_selection_reports_deselected(tmp_path):
    suite = copy_suite("maxfail", tmp_path)
    result = run_bulkhead("-n", "2", "-k", "test_01 or test_03 or test_07", cwd=suite)
    plain = run_pytest("-k", "test_01 or test_03 or test_07", cwd=suite)
    assert result.returncode == plain.returncode == 1
    assert closing_counts(result.stdout) == closing_counts(plain.stdout) == \
        "1 failed, 2 passed, 7 deselected"
    assert "collected 10 items / 7 deselected / 3 selected" in result.stdout


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    base = tmp_path_factory.mktemp("outcomes")
    suite = copy_suite("outcomes", base)
    run = {"suite": suite, "junit": base / "b.xml", "pytest_junit": base / "p.xml"}
    run["result"] = run_bulkhead("-n", "2", "--junitxml", str(run["junit"]), cwd=suite)
    run["plain"] = run_pytest(f"--junitxml={run['pytest_junit']}", cwd=suite)
    return run


def test_outcomes_closing_line_and_exit_code_as_pytest(outcomes):
    result, plain = outcomes["result"], outcomes["plain"]
    assert plain.returncode == 1
    assert result.returncode == plain.returncode, result.stdout[-3000:]
    assert closing_counts(result.stdout) == closing_counts(plain.stdout) == \
        "3 failed, 4 passed, 2 skipped, 1 xfailed, 1 xpassed, 2 errors"
    last = result.stdout.strip().splitlines()
    closing = [l for l in last if " in " in l and l.startswith("=")][-1]
    assert closing.endswith("=") and len(closing) == 80  # padded as pytest pads


def test_setup_and_teardown_errors(outcomes):
    out = outcomes["result"].stdout
    assert "ERROR test_outcomes.py::test_setup_error - RuntimeError: setup fails on purpose" in out
    assert "ERROR test_outcomes.py::test_teardown_error - RuntimeError: teardown fails on" in out
    assert "ERROR at setup of test_setup_error" in out
    assert "ERROR at teardown of test_teardown_error" in out
    assert "FAILED test_outcomes.py::test_xpass_strict" in out


def test_junit_valid_and_counts_match_pytest(outcomes):
    ours = junit_counts(outcomes["junit"])
    theirs = junit_counts(outcomes["pytest_junit"])
    assert ours == theirs == {"tests": 13, "failures": 3, "errors": 2, "skipped": 3}
    assert junit_case_counts(outcomes["junit"]) == junit_case_counts(outcomes["pytest_junit"])
    names = lambda path: sorted((c.get("classname"), c.get("name")) for c in
                                ElementTree.parse(path).getroot().iter("testcase"))
    assert names(outcomes["junit"]) == names(outcomes["pytest_junit"])


def test_scoped_loadscope_sets_up_each_module_once(tmp_path):
    suite = copy_suite("scoped", tmp_path)
    junit = tmp_path / "j.xml"
    result = run_bulkhead("-n", "2", "--dist", "loadscope", "--junitxml", str(junit), cwd=suite)
    assert result.returncode == 0, result.stdout[-3000:]
    assert closing_counts(result.stdout) == "20 passed"
    setups = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert "module_setup" in props, case.attrib
        setups.setdefault(case.get("classname"), set()).add(props["module_setup"])
    assert sorted(setups) == [f"test_scope_{m}" for m in "abcd"]
    assert {module: len(ids) for module, ids in setups.items()} == \
        {f"test_scope_{m}": 1 for m in "abcd"}
    assert len(set().union(*setups.values())) == 4


def test_output_with_s_shows_markers_prefixed(tmp_path):
    suite = copy_suite("output", tmp_path)
    result = run_bulkhead("-n", "2", "-s", cwd=suite)
    assert result.returncode == 1
    assert closing_counts(result.stdout) == "1 failed, 3 passed"
    marked = [l for l in result.stdout.splitlines() if "OUTPUT-MARKER" in l
              and 'print("OUTPUT-MARKER' not in l]  # not the failure's source lines
    # Live output is line-prefixed by its worker; "no-newline" runs on into the next marker,
    # as it does under plain `pytest -s`.
    assert all(l.startswith(("[gw0] OUTPUT-MARKER ", "[gw1] OUTPUT-MARKER ")) for l in marked), \
        marked
    for text in ["stdout-line", "stderr-line", "fixture-setup", "call-with-fixture", "no-newline",
                 "fixture-teardown", "captured-on-failure", "captured-stderr-on-failure"]:
        assert sum(l.count(f"OUTPUT-MARKER {text}") for l in marked) == 1, (text, marked)


def test_output_without_s_only_the_failure_is_shown(tmp_path):
    suite = copy_suite("output", tmp_path)
    result = run_bulkhead("-n", "2", cwd=suite)
    assert result.returncode == 1
    marked = sorted(l for l in result.stdout.splitlines() if l.startswith("OUTPUT-MARKER"))
    assert marked == ["OUTPUT-MARKER captured-on-failure",
                      "OUTPUT-MARKER captured-stderr-on-failure"]


def test_empty_suite_exits_5(tmp_path):
    suite = copy_suite("empty", tmp_path)
    result = run_bulkhead("-n", "2", cwd=suite)
    plain = run_pytest(cwd=suite)
    assert result.returncode == plain.returncode == 5, result.stdout[-3000:]
    assert closing_counts(result.stdout) == closing_counts(plain.stdout) == "no tests ran"

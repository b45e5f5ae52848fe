"""--retries: the retries suite's flaky test (fails on its first attempt only, counting in a
write-through directory), order-dependent test (fails after its polluter, passes alone) and
consistent failure are classified in the terminal, the JUnit report (nextest's
flakyFailure / rerunFailure) and the JSON report (every attempt); --flaky-result decides the
exit status; pytest-rerunfailures' own --reruns still works."""
import json
import re
import xml.etree.ElementTree as ET

import pytest

from helpers import copy_suite, leaked_cgroups, run_bulkhead

FLAKY = "test_flaky.py::test_flaky"
VICTIM = "test_order.py::test_victim"
ALWAYS = "test_plain.py::test_always_fails"


def _run(suite, *args):
    return run_bulkhead("-n", "2", "--dist", "loadfile", "--write-through", "state", *args,
                        cwd=suite)


def _closing_line(out):
    """The last "=== ... ===" line (report paths may follow it)."""
    return [line for line in out.splitlines() if line.startswith("=")][-1]


def test_retries_classify_in_terminal_junit_and_json(tmp_path):
    suite = copy_suite("retries", tmp_path)
    result = _run(suite, "--retries", "2", "--json", "r.json", "--junitxml", "r.xml")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr  # order-dependent and consistent fail
    assert "rerunning 3 failed tests alone, each in a fresh sandbox" in out, out
    # The flaky test is replayed too when its sandbox ran tests before it (the replay passes).
    assert re.search(rf"^FLAKY {FLAKY} - failed 1 of [23] attempts", out, re.M), out
    # Its sandbox ran test_polluter and test_between first, maybe another file before them.
    match = re.search(rf"^ORDER-DEPENDENT {VICTIM} - passes alone, fails after the (\d+) tests "
                      "its sandbox ran before it$", out, re.M)
    assert match and int(match.group(1)) >= 2, out
    assert f"FAILED {ALWAYS} - failed 3 of 3 attempts" in out, out
    # One closing line, the last, over each test's final result, then the verdicts.
    assert re.search(r"^=+ 2 failed, 9 passed, 1 flaky, 1 order-dependent in [\d.]+s =+$",
                     _closing_line(out)), out
    assert "3 failed, 8 passed" not in out, out

    report = json.loads((tmp_path / "retries" / "r.json").read_text())
    tests = {t["nodeid"]: t for t in report["tests"]}
    flaky, victim, always = tests[FLAKY], tests[VICTIM], tests[ALWAYS]
    assert flaky["verdict"] == "flaky" and flaky["outcome"] == "passed"
    assert flaky["attempts"][0]["kind"] == "first"
    assert flaky["attempts"][0]["outcome"] == "failed"
    assert victim["verdict"] == "order-dependent" and victim["outcome"] == "failed"
    assert [(a["kind"], a["outcome"]) for a in victim["attempts"]] == [
        ("alone", "passed"), ("replay", "failed")]
    assert victim["attempts"][1]["predecessors"] == int(match.group(1))
    assert always["verdict"] == "failed"
    assert [(a["kind"], a["outcome"]) for a in always["attempts"]] == [
        ("alone", "failed"), ("alone", "failed")]
    assert tests["test_plain.py::test_ordinary[0]"]["verdict"] == ""
    assert tests["test_plain.py::test_ordinary[0]"]["attempts"] == []

    cases = {c.get("classname") + "::" + c.get("name"): c
             for c in ET.parse(tmp_path / "retries" / "r.xml").iter("testcase")}
    case = cases["test_flaky::test_flaky"]
    assert case.find("failure") is None and len(case.findall("flakyFailure")) == 1
    assert "first attempt fails" in case.find("flakyFailure/stackTrace").text
    case = cases["test_order::test_victim"]
    assert case.find("failure") is not None and len(case.findall("rerunFailure")) == 1
    assert case.find("flakyFailure") is None
    verdicts = {p.get("value") for p in case.iter("property") if p.get("name") == "bulkhead_verdict"}
    assert verdicts == {"order-dependent"}
    case = cases["test_plain::test_always_fails"]
    assert case.find("failure") is not None and len(case.findall("rerunFailure")) == 2
    assert leaked_cgroups() == []


@pytest.mark.parametrize("flaky_result, status", [("pass", 0), ("fail", 1)])
def test_flaky_result_decides_the_exit_status(tmp_path, flaky_result, status):
    suite = copy_suite("retries", tmp_path)
    result = _run(suite, "--retries", "1", "--flaky-result", flaky_result, "-k", "flaky")
    assert result.returncode == status, result.stdout + result.stderr
    assert f"FLAKY {FLAKY} - failed 1 of 2 attempts (--flaky-result {flaky_result})" in result.stdout
    outcome = "passed" if flaky_result == "pass" else "failed"
    last = _closing_line(result.stdout)
    assert re.search(rf"^=+ 1 {outcome}, 10 deselected, 1 flaky in [\d.]+s =+$", last), last


def test_without_retries_nothing_reruns(tmp_path):
    suite = copy_suite("retries", tmp_path)
    result = _run(suite)
    assert result.returncode == 1
    assert "rerunning" not in result.stdout and "3 failed, 8 passed" in result.stdout


def test_rerunfailures_own_reruns_still_work(tmp_path):
    pytest.importorskip("pytest_rerunfailures")
    suite = copy_suite("retries", tmp_path)
    result = _run(suite, "-k", "flaky", "--", "--reruns", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 10 deselected, 1 rerun" in result.stdout, result.stdout


def test_bad_values_are_named(tmp_path):
    suite = copy_suite("retries", tmp_path)
    for args, name in ((["--retries", "x"], "--retries"), (["--flaky-result", "maybe"],
                                                          "--flaky-result")):
        result = run_bulkhead(*args, cwd=suite)
        assert result.returncode == 4 and name in result.stderr, result.stderr

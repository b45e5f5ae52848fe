"""pytest-rerunfailures: `--reruns 2` reruns a flaky test in its worker, which is reported once,
as rerun then passed; its rerun summary (`-r R`) comes from the host session, as from xdist's
controller."""
import json

from compat import require, run_each


def test_flaky_test_reported_once_as_rerun_then_passed(tmp_path):
    require("pytest_rerunfailures", "xdist")
    runs = run_each(tmp_path, "rerunfailures", "--reruns", "2", "-rR",
                    runners=("pytest", "xdist", "bulkhead"),
                    options=("--json", str(tmp_path / "report.json")))
    pytest_, xdist, bulkhead = runs["pytest"], runs["xdist"], runs["bulkhead"]
    assert bulkhead.returncode == xdist.returncode == pytest_.returncode == 1, runs
    assert bulkhead.outcomes == xdist.outcomes == pytest_.outcomes == {
        "tests.test_flaky::test_flaky_passes_on_its_second_run": "passed",
        "tests.test_flaky::test_always_fails": "failed",
        "tests.test_flaky::test_steady": "passed"}
    assert bulkhead.closing == xdist.closing == "1 failed, 2 passed, 3 rerun", runs

    def reruns(result):
        return sorted(line for line in result.out.splitlines() if line.startswith("RERUN "))

    assert reruns(bulkhead) == reruns(xdist) == reruns(pytest_)
    assert len(reruns(bulkhead)) == 3
    tests = json.loads((tmp_path / "report.json").read_text())["tests"]
    flaky = [t for t in tests if t["nodeid"].endswith("test_flaky_passes_on_its_second_run")]
    assert len(flaky) == 1 and flaky[0]["outcome"] == "passed"
    calls = [phase["outcome"] for phase in flaky[0]["phases"] if phase["when"] == "call"]
    assert calls == ["rerun", "passed"], flaky

"""Integration (issue 14, the supervisor's memory): a 20 000-test run with -n 2 streams each
result to the supervisor's spill file and its reports from there. The JSON report, the JUnit
XML and the terminal's summary must still hold every test exactly once, the failures and
skips with their details, in the same counts as pytest's closing line."""
import json
import os
import xml.etree.ElementTree as ET

import pytest

from helpers import closing_counts, run_bulkhead

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD (the binary) not set")

FILES = 100
PER_FILE = 200
TRIVIAL = FILES * PER_FILE


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("large")
    suite = base / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider -p no:randomly -p no:random_order\n")
    for f in range(FILES):
        (suite / f"test_m{f:03d}.py").write_text(
            "import pytest\n\n\n"
            f"@pytest.mark.parametrize('n', range({PER_FILE}))\n"
            "def test(n):\n    pass\n")
    (suite / "test_odd.py").write_text(
        "import pytest\n\n\n"
        "def test_fails():\n    assert 1 + 1 == 3, 'arithmetic broke'\n\n\n"
        "def test_prints_and_fails():\n    print('output of the failing test')\n"
        "    raise ValueError('bad value')\n\n\n"
        "@pytest.mark.skip(reason='not today')\ndef test_skipped():\n    pass\n\n\n"
        "@pytest.mark.xfail(reason='known')\ndef test_xfail():\n    assert False\n")
    json_path, xml_path = base / "report.json", base / "report.xml"
    spill_dir = base / "tmp"  # the supervisor's TMPDIR: its spill file lives (unlinked) there
    spill_dir.mkdir()
    env = dict(os.environ, TMPDIR=str(spill_dir))
    result = run_bulkhead("-n", "2", "--json", str(json_path), "--junitxml", str(xml_path),
                          "-rfs", cwd=suite, env=env, timeout=900)
    return dict(result=result, report=json.loads(json_path.read_text()),
                xml=ET.parse(str(xml_path)).getroot(), spill_dir=spill_dir)


def test_the_run_fails_on_its_two_failures(run):
    result = run["result"]
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert closing_counts(result.stdout) == f"2 failed, {TRIVIAL} passed, 1 skipped, 1 xfailed"


def test_json_report_holds_every_test_once(run):
    tests = run["report"]["tests"]
    assert len(tests) == TRIVIAL + 4
    assert len({t["nodeid"] for t in tests}) == len(tests)
    summary = run["report"]["summary"]
    assert (summary["passed"], summary["failed"], summary["skipped"], summary["xfailed"]) == \
        (TRIVIAL, 2, 1, 1)
    by_id = {t["nodeid"]: t for t in tests}
    failed = by_id["test_odd.py::test_prints_and_fails"]
    assert failed["outcome"] == "failed"
    assert "bad value" in json.dumps(failed)
    assert by_id["test_m042.py::test[199]"]["outcome"] == "passed"


def test_junit_report_holds_every_testcase_once(run):
    suite = run["xml"].find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == TRIVIAL + 4
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) \
        == (str(TRIVIAL + 4), "2", "2", "0")
    named = {(c.get("classname"), c.get("name")): c for c in cases}
    assert len(named) == len(cases)
    failing = named[("test_odd", "test_prints_and_fails")]
    assert "bad value" in failing.find("failure").get("message")
    assert "output of the failing test" in failing.find("system-out").text


def test_terminal_summary_shows_only_what_it_should(run):
    out = run["result"].stdout
    assert "arithmetic broke" in out
    assert "FAILED test_odd.py::test_fails" in out
    assert "FAILED test_odd.py::test_prints_and_fails - ValueError: bad value" in out
    assert "SKIPPED [1] test_odd.py:" in out
    assert "PASSED" not in out  # -rfs: no passes listed


def test_no_spill_file_is_left_behind(run):
    assert list(run["spill_dir"].iterdir()) == []

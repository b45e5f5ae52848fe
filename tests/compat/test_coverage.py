"""pytest-cov under bulkhead gives what it gives under `pytest -n 2` (and plain pytest): the
same table, the same coverage.xml, --cov-fail-under, --cov-append, html, --no-cov, with the
suite's .coveragerc (parallel, multiprocessing, omit) or [tool.coverage] in pyproject.toml,
and a subprocess measured."""
from xml.etree import ElementTree

from compat import copy_suite, require, run, run_each

COV = ("--cov=shapes", "--cov-report=term-missing", "--cov-report=xml")


def table(result):
    return result.section("---------- coverage:", "TOTAL")


def xml_lines(path):
    """{filename: {line number: hits}} and the overall line rate, from coverage.xml."""
    root = ElementTree.parse(path).getroot()
    files = {}
    for cls in root.iter("class"):
        files[cls.get("filename")] = {int(l.get("number")): int(l.get("hits"))
                                      for l in cls.iter("line")}
    return files, root.get("line-rate")


def test_table_and_xml_are_pytest_n_2s(tmp_path):
    require("pytest_cov", "xdist")
    runs = run_each(tmp_path, "cov", *COV)
    xdist, bulkhead = runs["xdist"], runs["bulkhead"]
    assert xdist.returncode == bulkhead.returncode == 1, (xdist, bulkhead)
    assert bulkhead.outcomes == xdist.outcomes == runs["pytest"].outcomes
    assert table(bulkhead) == table(xdist) == table(runs["pytest"]), (xdist, bulkhead)
    rows = {line.split()[0]: line.split()[1:] for line in table(bulkhead)[3:-2]}
    # The subprocess and the multiprocessing child were measured; the .coveragerc's omit held.
    assert rows["src/shapes/util.py"] == ["10", "2", "80%", "3,", "6"], table(bulkhead)
    assert "src/shapes/generated.py" not in rows
    assert "Coverage XML written to file coverage.xml" in bulkhead.out
    assert "the zygote ended" not in bulkhead.out  # it says why it does not fork, and lives
    # The table comes where pytest prints it: after the failures, before the short summary.
    out = bulkhead.out
    assert out.index("= FAILURES =") < out.index("---------- coverage:") < out.index(
        "short test summary info")
    assert xml_lines(bulkhead.suite / "coverage.xml") == xml_lines(xdist.suite / "coverage.xml")
    assert not list(bulkhead.suite.glob(".coverage.*")), "data files were left uncombined"


def test_fail_under(tmp_path):
    require("pytest_cov", "xdist")
    for limit, code, verdict in (("90", 1, "FAIL Required test coverage of 90% not reached"),
                                 ("1", 0, "Required test coverage of 1% reached")):
        runs = run_each(tmp_path / limit, "cov", "--cov=shapes", "--cov-fail-under=" + limit,
                        "-k", "not fails", runners=("xdist", "bulkhead"))
        lines = {}
        for runner, result in runs.items():
            assert result.returncode == code, result
            lines[runner] = [l for l in result.out.splitlines() if "Required test coverage" in l]
            assert len(lines[runner]) == 1 and lines[runner][0].startswith(verdict), result
        assert lines["bulkhead"] == lines["xdist"]


def test_append_combines_runs_as_pytest_n_2_does(tmp_path):
    require("pytest_cov", "xdist")
    totals = {}
    for runner in ("xdist", "bulkhead"):
        suite = copy_suite("cov", tmp_path / runner)
        first = run(runner, suite, "--cov=shapes", "--cov-report=term", "-k", "square")
        second = run(runner, suite, "--cov=shapes", "--cov-report=term-missing", "--cov-append",
                     "-k", "rect or classify")
        assert first.returncode == second.returncode == 0, (first, second)
        totals[runner] = table(second)
        alone = run(runner, suite, "--cov=shapes", "--cov-report=term-missing", "-k",
                    "rect or classify")
        assert table(alone) != table(second), "--cov-append changed nothing"
    assert totals["bulkhead"] == totals["xdist"]


def test_pyproject_config_html_report_and_no_cov(tmp_path):
    require("pytest_cov", "xdist")
    tables = {}
    for runner in ("xdist", "bulkhead"):
        # coverage's configuration from pyproject.toml instead of .coveragerc.
        suite = copy_suite("cov", tmp_path / runner)
        (suite / ".coveragerc").unlink()
        with open(suite / "pyproject.toml", "a") as pyproject:
            pyproject.write('\n[tool.coverage.run]\nomit = ["*/shapes/util.py"]\n')
        result = run(runner, suite, "--cov=shapes", "--cov-report=html", "--cov-report=term",
                     "-k", "square or clamp")
        assert result.returncode == 0, result
        assert "Coverage HTML written to dir htmlcov" in result.out
        assert (suite / "htmlcov" / "index.html").is_file()
        tables[runner] = table(result)
        assert not [line for line in tables[runner] if "util.py" in line], result
    assert tables["bulkhead"] == tables["xdist"]
    runs = run_each(tmp_path / "off", "cov", "--no-cov", "--cov=shapes", "-k", "square",
                    runners=("xdist", "bulkhead"))
    for result in runs.values():
        assert result.returncode == 0, result
        assert "WARNING: Coverage disabled via --no-cov switch!" in result.out, result
        assert "---------- coverage:" not in result.out
        assert not (result.suite / ".coverage").exists()

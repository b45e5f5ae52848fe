"""Fidelity: a test sees the machine it would see under plain pytest, except for what the
sandbox isolates. As root and rootless (`setpriv` to uid 65534):

- properties/test_properties.py (ownership, tar extraction, disk usage, user xattrs, inode
  numbers, free descriptor ranges) must pass under plain pytest and under `bulkhead run -n 2`;
- CPython's own test_os, test_shutil, test_tarfile, test_tempfile and test_zipfile (Debian's
  libpython3.X-testsuite) run under both, and every test must end the same way, except the
  differences docs/fidelity.md lists with their reason. A difference is confirmed by running
  that test again both ways (timing-sensitive tests on a loaded machine); a listed difference
  that no longer happens fails too, so the list stays true."""
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("BULKHEAD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BULKHEAD = os.environ.get("BULKHEAD", str(SOURCE / "build" / "bin" / "bulkhead"))
DOC = SOURCE / "docs" / "fidelity.md"
PYTHON = "/usr/bin/python3"
ROOTLESS = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
STDLIB_TESTS = Path(f"/usr/lib/python3.{sys.version_info.minor}/test")
MODULES = ["test_os", "test_shutil", "test_tarfile", "test_tempfile", "test_zipfile"]
# Both runs see only pytest and xdist, whatever else the machine has installed.
PYTEST_ARGS = ["-p", "no:cacheprovider", "-p", "xdist.plugin", "-q"]


@pytest.fixture(scope="module", params=["root", "rootless"])
def mode(request):
    if request.param == "rootless":
        probe = subprocess.run([*ROOTLESS, "unshare", "--user", "true"], capture_output=True,
                               text=True, timeout=30)
        if probe.returncode != 0:
            pytest.skip(f"unprivileged user namespaces are refused here: {probe.stderr.strip()}")
    return request.param


@pytest.fixture
def project(mode):
    """An empty project directory the mode's user owns."""
    directory = Path(tempfile.mkdtemp(prefix="bulkhead-fidelity-"))
    os.chmod(directory, 0o755)
    if mode == "rootless":
        os.chown(directory, 65534, 65534)
    yield directory
    shutil.rmtree(directory)


def run(mode, runner, project, args, report, timeout=600):
    """Plain pytest or `bulkhead run -n 2` in `project`; returns {test: (outcome, message)}."""
    if runner == "pytest":
        command = [PYTHON, "-m", "pytest", *PYTEST_ARGS, f"--junitxml={report}", *args]
    else:
        command = [BULKHEAD, "run", "-n", "2", "--python", PYTHON, "--color", "no",
                   *PYTEST_ARGS, f"--junitxml={report}", *args]
    if mode == "rootless":
        command = [*ROOTLESS, *command]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "COLUMNS": "80"}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("BULKHEAD_WORKER", None)
    if mode == "rootless":
        env["HOME"] = str(project)
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if not Path(report).exists():
        pytest.fail(f"{runner} ({mode}) wrote no report, exit {result.returncode}:\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module_class = case.get("classname").split(".")
        key = f"{'.'.join(module_class[-2:])}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", child.get("message") or ""
            elif child.tag == "skipped":
                outcome, message = "skipped", child.get("message") or ""
        outcomes[key] = (outcome, message)
    os.unlink(report)
    return outcomes


# -- the properties ------------------------------------------------------------------------------

@pytest.mark.parametrize("runner", ["pytest", "bulkhead"])
def test_properties_hold(mode, runner, project):
    shutil.copy2(Path(__file__).parent / "properties" / "test_properties.py", project)
    if mode == "rootless":
        os.chown(project / "test_properties.py", 65534, 65534)
    outcomes = run(mode, runner, project, ["-rs"], project / "report.xml", timeout=300)
    assert len(outcomes) >= 16, outcomes
    failed = {test: message for test, (outcome, message) in outcomes.items()
              if outcome == "failed"}
    assert failed == {}
    for test, (outcome, message) in outcomes.items():
        if outcome == "skipped":  # only where the kernel lacks the feature, and saying so
            assert runner == "bulkhead" and "from Linux 6.6" in message, (test, message)


# -- CPython's own tests -------------------------------------------------------------------------

def kernel():
    return tuple(int(n) for n in platform.release().split("-")[0].split(".")[:2])


def condition_holds(when, mode):
    for part in (p.strip() for p in when.split(",")):
        if part in ("root", "rootless"):
            if part != mode:
                return False
        elif (match := re.fullmatch(r"kernel ([<>]=?) (\d+)\.(\d+)", part)):
            op, version = match.group(1), (int(match.group(2)), int(match.group(3)))
            if not {"<": kernel() < version, "<=": kernel() <= version,
                    ">": kernel() > version, ">=": kernel() >= version}[op]:
                return False
        elif part != "always":
            raise AssertionError(f"{DOC}: unknown condition {part!r} in the stdlib table")
    return True


def documented_differences(mode):
    """{test: (plain outcome, bulkhead outcome)} from docs/fidelity.md, for this mode."""
    text = DOC.read_text()
    table = re.search(r"<!-- stdlib-differences:start -->\n(.*?)<!-- stdlib-differences:end -->",
                      text, re.S)
    assert table, f"{DOC}: no stdlib-differences table"
    rows = [line for line in table.group(1).splitlines() if line.startswith("| `")]
    known = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        test, when, plain, sandboxed = cells[0].strip("`"), cells[1], cells[2], cells[3]
        assert cells[4], f"{DOC}: {test}: the reason is missing"
        if condition_holds(when, mode):
            known[test] = (plain, sandboxed)
    return known


def node_id(test):
    module_class, name = test.split("::")
    module, cls = module_class.split(".")
    return f"{STDLIB_TESTS / module}.py::{cls}::{name}"


def test_stdlib_outcomes_match_plain_pytest(mode, project):
    missing = [m for m in MODULES if not (STDLIB_TESTS / f"{m}.py").exists()]
    if missing:
        pytest.fail(f"{STDLIB_TESTS}: {missing} missing; install libpython3."
                    f"{sys.version_info.minor}-testsuite (make deps)")
    paths = [str(STDLIB_TESTS / f"{m}.py") for m in MODULES]
    plain = run(mode, "pytest", project, paths, project / "plain.xml")
    sandboxed = run(mode, "bulkhead", project, paths, project / "bulkhead.xml")
    assert len(plain) > 1000 and set(plain) == set(sandboxed), \
        set(plain) ^ set(sandboxed)
    differing = sorted(t for t in plain if plain[t][0] != sandboxed[t][0])
    if differing:  # confirm each, one test at a time both ways
        ids = [node_id(t) for t in differing]
        plain_again = run(mode, "pytest", project, ids, project / "plain-again.xml")
        sandboxed_again = run(mode, "bulkhead", project, ids, project / "bulkhead-again.xml")
        differing = [t for t in differing
                     if plain_again.get(t, ("missing",))[0] != sandboxed_again.get(t, ("?",))[0]]
    found = {t: (plain[t][0], sandboxed[t][0]) for t in differing}
    known = documented_differences(mode)
    unexplained = {t: f"{found[t][0]} -> {found[t][1]}: {sandboxed[t][1][:120]}"
                   for t in found if known.get(t) != found[t]}
    stale = {t: known[t] for t in known if t not in found}
    assert unexplained == {}, f"differences not listed in {DOC} (with their reason)"
    assert stale == {}, f"listed in {DOC} for this mode but no longer different"

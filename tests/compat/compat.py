"""Running one suite under plain pytest, `pytest -n 2` (pytest-xdist) and `bulkhead run -n 2`,
and reading what each gave: exit code, terminal output, per-test outcomes (from each runner's
JUnit XML), files left in the checkout."""
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

BULKHEAD = os.environ.get("BULKHEAD", "bulkhead")
SOURCE_DIR = Path(os.environ.get("BULKHEAD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SUITES = SOURCE_DIR / "tests" / "compat" / "suites"
PYTHON = "/usr/bin/python3"  # Debian's, where `make deps` installs the plugins
RUNNERS = ("pytest", "xdist", "bulkhead")


def require(*modules):
    """Fails (never skips) when a plugin the matrix covers is missing: `make deps` installs it."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail("not installed: %s (run `make deps`)" % ", ".join(missing), pytrace=False)


def copy_suite(name, dest):
    target = Path(dest) / name
    shutil.copytree(SUITES / name, target,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


class Run:
    def __init__(self, runner, completed, xml):
        self.runner = runner
        self.returncode = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr
        self.xml = xml

    @property
    def outcomes(self):
        """{"tests.test_x::test_y": "passed" | "failed" | "error" | "skipped"} from JUnit."""
        found = {}
        root = ElementTree.parse(self.xml).getroot()
        for case in root.iter("testcase"):
            outcome = "passed"
            for child, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
                if case.find(child) is not None:
                    outcome = name
            found[case.get("classname") + "::" + case.get("name")] = outcome
        return found

    @property
    def closing(self):
        """The closing line's counts, without the duration: "2 failed, 6 passed"."""
        for line in reversed(self.out.splitlines()):
            match = re.match(r"^=* ?(.*?) in [0-9.]+s( \(.*\))? ?=*$", line.strip())
            if match:
                return match.group(1)
        return None

    def section(self, first, last):
        """Lines from the one starting with `first` to the one starting with `last`."""
        lines = self.out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(first))
        end = next(i for i in range(start, len(lines)) if lines[i].startswith(last))
        return lines[start:end + 1]

    def __repr__(self):
        return "<%s exit %d>\n%s\n%s" % (self.runner, self.returncode, self.out[-4000:],
                                        self.err[-2000:])


def environment(extra=None):
    env = dict(os.environ)
    for key in ("PYTEST_ADDOPTS", "BULKHEAD_WORKER", "PYTEST_XDIST_WORKER"):
        env.pop(key, None)
    env["COLUMNS"] = "80"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def run(runner, suite, *args, env=None, timeout=240, xml=True, options=()):
    """Runs `runner` in `suite` with pytest arguments `args` (and bulkhead's `options`)."""
    suite = Path(suite)
    report = suite / (".junit-%s.xml" % runner)
    junit = ["--junitxml", str(report)] if xml else []
    if runner == "pytest":
        command = [PYTHON, "-m", "pytest", *junit, *args]
    elif runner == "xdist":
        command = [PYTHON, "-m", "pytest", "-n", "2", *junit, *args]
    else:
        command = [BULKHEAD, "run", "--python", PYTHON, "--color", "no", "-n", "2", *junit,
                   *options, "--", *args]
    completed = subprocess.run(command, cwd=suite, env=environment(env), capture_output=True,
                               text=True, timeout=timeout)
    return Run(runner, completed, report)


def run_each(tmp_path, name, *args, runners=RUNNERS, env=None, options=()):
    """Each runner on its own fresh copy of suite `name`: {runner: Run}."""
    results = {}
    for runner in runners:
        suite = copy_suite(name, Path(tmp_path) / runner)
        results[runner] = run(runner, suite, *args, env=env, options=options)
        results[runner].suite = suite
    return results

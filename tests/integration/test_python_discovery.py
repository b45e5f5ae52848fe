"""Finding the interpreter without --python, as a user's PATH leads to it: the first python3 on
PATH that imports pytest. The probes' answers are kept between runs (~/.cache/bulkhead): a venv
first on PATH without pytest is passed over; once the venv can import pytest (here: its
pyvenv.cfg lets the system's packages in, as a `pip install pytest` would change its
site-packages) the next run picks it; a run in which nothing changed asks no interpreter."""
import os
import subprocess
import sys

import pytest

from helpers import BULKHEAD, leaked_cgroups

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD not set")

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"


def make_venv(root, system_packages):
    """A venv by hand (Debian's python3-venv may be missing): bin/python3 -> the system's, and
    a pyvenv.cfg saying whether the system's site-packages are visible."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python3").symlink_to(SYSTEM_PYTHON)
    version = "python%d.%d" % sys.version_info[:2]  # the tests run on the system's Python
    (root / "lib" / version / "site-packages").mkdir(parents=True)
    set_system_packages(root, system_packages)


def set_system_packages(root, visible):
    (root / "pyvenv.cfg").write_text(
        "home = /usr/bin\ninclude-system-site-packages = %s\n" % ("true" if visible else "false"))


def run(suite, home, venv):
    env = dict(os.environ, HOME=str(home), COLUMNS="80",
               PATH="%s:%s" % (venv / "bin", os.environ["PATH"]))
    env.pop("XDG_CACHE_HOME", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([BULKHEAD, "run", "-n", "1", "--color", "no", "-p", "no:randomly"],
                          cwd=suite, env=env, capture_output=True, text=True, timeout=240)


def platform_line(stdout):
    return next(line for line in stdout.splitlines() if line.startswith("platform linux"))


def test_the_cache_follows_what_the_interpreters_can_import(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_one.py").write_text("def test_one():\n    pass\n")
    home = tmp_path / "home"
    home.mkdir()
    venv = tmp_path / "venv"
    make_venv(venv, system_packages=False)
    cache = home / ".cache" / "bulkhead" / "python-probes.json"

    first = run(suite, home, venv)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 passed" in first.stdout
    # The venv has no pytest: the system's interpreter runs the tests.
    assert not platform_line(first.stdout).endswith(str(venv / "bin" / "python3")), first.stdout
    assert str(venv / "bin" / "python3") in cache.read_text(), "the venv's answer is kept"

    # Nothing changed: every answer comes from the cache, which is not written again.
    written = cache.stat().st_mtime_ns
    again = run(suite, home, venv)
    assert again.returncode == 0, again.stdout + again.stderr
    assert platform_line(again.stdout) == platform_line(first.stdout)
    assert cache.stat().st_mtime_ns == written

    # The venv can import pytest now: its cached "no pytest" no longer holds.
    set_system_packages(venv, visible=True)
    after = run(suite, home, venv)
    assert after.returncode == 0, after.stdout + after.stderr
    assert platform_line(after.stdout).endswith(str(venv / "bin" / "python3")), after.stdout
    assert cache.stat().st_mtime_ns != written

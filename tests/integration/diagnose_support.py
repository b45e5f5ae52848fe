"""Shared by test_repro.py and test_bisect.py: the diagnose suite's polluters and victims, and
running `bulkhead repro` / `bulkhead bisect`."""
import os
import re
import shlex
import subprocess

from helpers import BULKHEAD, run_bulkhead

VICTIMS = {  # kind -> (victim, its polluters in their order)
    "global": ("test_global.py::test_global_victim", ["test_global.py::test_global_polluter"]),
    "env": ("test_env.py::test_env_victim", ["test_env.py::test_env_polluter"]),
    "tmpfile": ("test_tmpfile.py::test_tmpfile_victim",
                ["test_tmpfile.py::test_tmpfile_polluter"]),
    "thread": ("test_thread.py::test_thread_victim", ["test_thread.py::test_thread_polluter"]),
    "pair": ("test_pair.py::test_pair_victim",
             ["test_pair.py::test_pair_first", "test_pair.py::test_pair_second"]),
}
CONSISTENT = "test_consistent.py::test_always_fails"
FLAKY = "test_flaky.py::test_flaky"


def _environment(env=None):
    """The environment of the recorded runs and of repro/bisect alike (repro names what
    differs): without the outer pytest's PYTEST_CURRENT_TEST, which changes per test, and with
    the records in the suite's own .bulkhead/runs."""
    full_env = dict(os.environ if env is None else env)
    full_env.pop("PYTEST_CURRENT_TEST", None)
    full_env.pop("BULKHEAD_RECORD_DIR", None)  # ctest's shared one: each suite keeps its own
    full_env.pop("PYTEST_ADDOPTS", None)
    full_env.setdefault("COLUMNS", "80")
    return full_env


def record_run(*args, cwd):
    """`bulkhead run ARGS` in `cwd`, which records it."""
    return run_bulkhead(*args, cwd=cwd, env=_environment())


def diagnose(command, *args, cwd, timeout=280, env=None):
    """`bulkhead repro|bisect ARGS` in `cwd`; returns the CompletedProcess (text)."""
    full_env = _environment(env)
    return subprocess.run([BULKHEAD, command, *args], cwd=str(cwd), env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def printed_command(label, out):
    """The command printed after `label` (a regex matching from the start of a line) as a
    list, its binary the one under test."""
    match = re.search(rf"^{label}:? +(\S+ run .*)$", out, re.M)
    assert match, out
    words = shlex.split(match.group(1))
    words[0] = BULKHEAD
    return words

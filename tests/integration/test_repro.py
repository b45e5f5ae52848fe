"""`bulkhead repro` over the run record of the diagnose suite: order-dependent for each polluter
kind (a module global, an env var, a /tmp file, a leaked thread, a pair), consistent, flaky, a
test that passed; the printed commands show what the verdict says; a record copied into another
checkout replays there, with the commit difference warned about; bad inputs are named."""
import os
import re
import shutil
import subprocess

import pytest

from diagnose_support import (CONSISTENT, FLAKY, VICTIMS, diagnose, printed_command,
                              record_run)
from helpers import copy_suite, leaked_cgroups


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The diagnose suite without its 300 ordinary tests, run once in one sandbox (-n 1): every
    polluter precedes its victim there."""
    suite = copy_suite("diagnose", tmp_path_factory.mktemp("recorded"))
    result = record_run("-n", "1", "-k", "not ordinary", cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "7 failed" in result.stdout, result.stdout
    return suite


@pytest.mark.parametrize("kind", sorted(VICTIMS))
def test_order_dependent_with_the_commands_that_show_it(recorded, kind):
    victim, _ = VICTIMS[kind]
    result = diagnose("repro", victim, cwd=recorded)
    out = result.stdout
    assert result.returncode == 6, out + result.stderr
    assert re.search(rf"^bulkhead repro: {re.escape(victim)} failed in run \w+ \(worker gw0, "
                     r"sandbox 0, after \d+ tests\)$", out, re.M), out
    assert "warning" not in out, out  # same environment, same checkout
    assert re.search(r"^  after its \d+ predecessors: failed$", out, re.M), out
    assert "\n  alone: passed\n" in out, out
    assert f"ORDER-DEPENDENT {victim} - fails only after its predecessors" in out
    assert f"which of them: bulkhead bisect {victim} --run " in out
    fails, passes = printed_command("  fails", out), printed_command("  passes", out)
    assert fails[fails.index("--replay-worker") + 1] == "gw0"
    assert subprocess.run(fails, cwd=recorded, capture_output=True).returncode == 1
    assert subprocess.run(passes, cwd=recorded, capture_output=True).returncode == 0
    assert leaked_cgroups() == []


def test_consistent_and_flaky(recorded):
    result = diagnose("repro", CONSISTENT, cwd=recorded)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"CONSISTENT {CONSISTENT} - fails alone too" in result.stdout, result.stdout
    assert "\n  alone: failed\n" in result.stdout
    assert subprocess.run(printed_command("  fails alone", result.stdout), cwd=recorded,
                          capture_output=True).returncode == 1
    # The flaky test failed on its first attempt only: the replay passes.
    result = diagnose("repro", FLAKY, cwd=recorded)
    assert result.returncode == 7, result.stdout + result.stderr
    assert f"FLAKY {FLAKY} - the replay of its sandbox's sequence passed" in result.stdout


def test_a_test_that_passed_has_nothing_to_reproduce(recorded):
    result = diagnose("repro", "test_env.py::test_env_polluter", cwd=recorded)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to reproduce: it passed" in result.stdout
    assert "replaying" not in result.stdout


def test_a_changed_environment_is_named(recorded):
    env = dict(os.environ, DIAGNOSE_EXTRA="1")
    result = diagnose("repro", CONSISTENT, cwd=recorded, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^warning: the environment differs from the one gw0 had \(the replays run "
                     r"with the current one\): DIAGNOSE_EXTRA \(new\)$", result.stdout, re.M)


def test_bad_inputs_are_named(recorded, tmp_path):
    result = diagnose("repro", "test_env.py::test_nothing", cwd=recorded)
    assert result.returncode == 2 and "no test test_env.py::test_nothing in run" in result.stderr
    result = diagnose("bisect", "env_victim", cwd=recorded)
    assert result.returncode == 2, result.stderr
    assert "did you mean:\n  test_env.py::test_env_victim" in result.stderr
    result = diagnose("repro", CONSISTENT, "--run", "zzzz", cwd=recorded)
    assert result.returncode == 2 and "zzzz" in result.stderr, result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "pyproject.toml").write_text("")
    result = diagnose("repro", CONSISTENT, cwd=empty)
    assert result.returncode == 2 and str(empty / ".bulkhead" / "runs") in result.stderr, \
        result.stderr
    result = diagnose("bisect", CONSISTENT, "-n", "0", cwd=recorded)
    assert result.returncode == 4 and "-n" in result.stderr, result.stderr
    result = diagnose("repro", cwd=recorded)
    assert result.returncode == 4 and "NODEID" in result.stderr, result.stderr


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                   check=True, capture_output=True)


def test_a_record_copied_into_another_checkout_replays_there(tmp_path):
    first = copy_suite("diagnose", tmp_path / "first")
    _git(first, "init", "-q")
    _git(first, "add", "-A")
    _git(first, "commit", "-qm", "suite")
    result = record_run("-n", "1", "-k", "global", cwd=first)
    assert result.returncode == 1, result.stdout + result.stderr
    second = str(tmp_path / "second")
    subprocess.run(["git", "clone", "-q", first, second], check=True)
    _git(second, "commit", "-q", "--allow-empty", "-m", "later")
    runs = os.path.join(first, ".bulkhead", "runs")
    (record,) = [name for name in os.listdir(runs) if not name.startswith(".")]
    shutil.copytree(os.path.join(runs, record), os.path.join(second, ".bulkhead", "runs", record))
    shutil.rmtree(first)  # nothing of the first checkout is needed any more
    victim, _ = VICTIMS["global"]
    result = diagnose("repro", victim, cwd=second)
    assert result.returncode == 6, result.stdout + result.stderr
    assert re.search(r"^warning: the checkout is at [0-9a-f]{12}, the run was at [0-9a-f]{12}$",
                     result.stdout, re.M), result.stdout
    assert os.path.join(second, ".bulkhead", "runs", record, "replays") in result.stdout
    assert leaked_cgroups() == []

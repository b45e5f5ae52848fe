"""`bulkhead bisect`: each polluter kind of the diagnose suite found exactly (the pair: both),
with a printed command that reproduces with just them; a consistent failure is not bisected;
one polluter among 400 predecessors is found in a log-like number of rounds."""
import math
import re
import subprocess

import pytest

from diagnose_support import (CONSISTENT, VICTIMS, diagnose, printed_command,
                              record_run)
from generated_suites import polluted_sequence
from helpers import copy_suite, leaked_cgroups

FOUND = (r"^POLLUTED (\S+) - fails after (?:this test|these tests together) \((\d+) rounds?, "
         r"(\d+) replays?, [0-9.]+s\):\n((?:  \S+\n)+)")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return copy_suite("diagnose", tmp_path_factory.mktemp("bisect"))


@pytest.mark.parametrize("kind", sorted(VICTIMS))
def test_each_polluter_kind_is_found(suite, kind):
    # Its own file in one sandbox: the polluter(s), ten tests between, the victim.
    victim, polluters = VICTIMS[kind]
    result = record_run("-n", "1", victim.split("::")[0], cwd=suite)
    assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout + result.stderr
    result = diagnose("bisect", victim, "-n", "2", cwd=suite)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    found = re.search(FOUND, out, re.M)
    assert found and found.group(1) == victim, out
    assert found.group(4).split() == polluters, out
    assert re.search(r"^  round 1: 2 replays, \d+ predecessors each, 2 failing$", out, re.M), out
    replayed = subprocess.run(printed_command(r"reproduce with just (?:it|them):\n ", out),
                              cwd=suite, capture_output=True, text=True)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert f"1 failed, {len(polluters)} passed" in replayed.stdout, replayed.stdout
    assert leaked_cgroups() == []


def test_a_consistent_failure_is_not_bisected(suite):
    result = record_run("-n", "1", "test_global.py", "test_consistent.py", cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    result = diagnose("bisect", CONSISTENT, "-n", "2", cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"CONSISTENT {CONSISTENT} - fails alone too: no predecessor is needed" in result.stdout


def test_one_polluter_in_a_long_sequence_in_log_rounds(tmp_path):
    tests = 400
    suite = str(tmp_path / "long")
    victim, polluters = polluted_sequence(suite, tests, [263])
    result = record_run("-n", "1", cwd=suite)
    assert result.returncode == 1 and "1 failed, 400 passed" in result.stdout, result.stdout
    result = diagnose("bisect", victim, "-n", "4", cwd=suite)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    found = re.search(FOUND, out, re.M)
    assert found and found.group(4).split() == polluters, out
    # One round of checks before, a log4-like search (chunks, then complements), checks after.
    assert int(found.group(2)) <= 2 + 2 * math.ceil(math.log(tests, 4)) + 2, out
    assert leaked_cgroups() == []

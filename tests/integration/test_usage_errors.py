"""Integration: a command line pytest refuses (an unknown option, a bad -k expression, --pdb
which needs a terminal no sandbox has) ends the run at once with pytest's own message and its
exit status 4, as plain pytest does: no fallback from the zygote, no worker replaced, no test
reported as not run."""
import time

import pytest

from helpers import copy_suite, run_bulkhead, run_pytest

CASES = {
    "unknown option": (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    "bad -k": (["-k", "a and ("], "ERROR: Wrong expression passed to '-k': a and ("),
    "--pdb": (["--pdb"], "ERROR: --pdb needs your terminal"),
    "--trace": (["--trace"], "ERROR: --trace needs your terminal"),
}


@pytest.mark.parametrize("zygote", ["on", "off"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_usage_error_ends_the_run_with_pytests_message(tmp_path, case, zygote):
    args, message = CASES[case]
    suite = copy_suite("run_basic", tmp_path)
    started = time.monotonic()
    result = run_bulkhead("-n", "2", "--zygote", zygote, "--", *args, cwd=suite, timeout=120)
    elapsed = time.monotonic() - started
    out = result.stdout + result.stderr
    assert result.returncode == 4, out
    assert message in out, out
    assert "NOTRUN" not in out and "not run" not in out, out
    assert "restarted" not in out and "not forked" not in out, out
    assert elapsed < 30, (elapsed, out)  # no replacement workers meeting it again and again


def test_plain_pytest_says_the_same_for_a_bad_k(tmp_path):
    suite = copy_suite("run_basic", tmp_path)
    result = run_pytest("-k", "a and (", cwd=suite)
    assert result.returncode == 4
    assert CASES["bad -k"][1] in result.stdout + result.stderr


@pytest.mark.parametrize("args, message", [
    (["--dist", "nope"], "bulkhead run: --dist: expected one of load, loadfile, loadscope, "
                         "loadgroup, got 'nope'\n"),
    (["--timeout", "soon"], "bulkhead run: --timeout: "),
    (["--isolate", "test", "--dist", "loadfile"], "bulkhead run: --isolate test runs every test "
                                                  "alone, but --dist "),
])
def test_a_bad_bulkhead_option_is_named_once(tmp_path, args, message):
    suite = copy_suite("run_basic", tmp_path)
    result = run_bulkhead(*args, cwd=suite, timeout=60)
    assert result.returncode == 4, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("bulkhead run:") == 1, result.stderr

# Fixture suite for `bulkhead run`: one of each pytest outcome.
import os
import sys
import warnings

import pytest


def test_pass():
    assert True


def test_fail():
    x = 2
    assert x == 3


def test_output_on_failure():
    print("hello from stdout")
    sys.stderr.write("hello from stderr\n")
    assert False, "with output"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfailed():
    assert False


@pytest.mark.xfail(reason="fixed already")
def test_xpassed():
    pass


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture broke")


def test_setup_error(broken_fixture):
    pass


def test_warns():
    warnings.warn(UserWarning("careful"))


@pytest.mark.parametrize("n", range(4))
def test_param(n):
    assert n >= 0


def test_worker_env(worker_id, testrun_uid):
    assert worker_id == os.environ["PYTEST_XDIST_WORKER"]
    assert worker_id.startswith("gw")
    assert testrun_uid == os.environ["PYTEST_XDIST_TESTRUNUID"]
    assert os.environ["BULKHEAD_WORKER"] == worker_id

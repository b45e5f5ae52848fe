# Fixture suite outcomes (see ../README.md): one or more tests of every outcome pytest reports.
# Alone: 3 failed, 4 passed, 2 skipped, 1 xfailed, 1 xpassed, 2 errors (exit code 1).
import pytest


def test_pass_one():
    assert True


def test_pass_two():
    assert 1 + 1 == 2


def test_pass_three():
    pass


def test_fail_assert():
    assert 1 == 2, "one is not two"


def test_fail_exception():
    raise ValueError("raised on purpose")


@pytest.mark.skip(reason="skipped by marker")
def test_skip_marker():
    pass


def test_skip_inside():
    pytest.skip("skipped from inside the test")


@pytest.mark.xfail(reason="fails as expected")
def test_xfail():
    assert False


@pytest.mark.xfail(reason="expected to fail but passes")
def test_xpass():
    assert True


@pytest.mark.xfail(strict=True, reason="strict: passing is a failure")
def test_xpass_strict():
    assert True


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup fails on purpose")


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown fails on purpose")


def test_setup_error(broken_setup):
    pass


def test_teardown_error(broken_teardown):
    pass

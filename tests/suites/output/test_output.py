# Fixture suite output (see ../README.md): tests that print known markers to stdout and stderr,
# for checking -s (output passes through) and capture (shown only for the failing test).
# Alone: 1 failed, 3 passed.
import sys

import pytest


@pytest.fixture
def noisy_fixture():
    print("OUTPUT-MARKER fixture-setup")
    yield
    print("OUTPUT-MARKER fixture-teardown")


def test_prints_stdout():
    print("OUTPUT-MARKER stdout-line")


def test_prints_stderr():
    print("OUTPUT-MARKER stderr-line", file=sys.stderr)


def test_prints_with_fixture(noisy_fixture):
    print("OUTPUT-MARKER call-with-fixture")
    sys.stdout.write("OUTPUT-MARKER no-newline")
    sys.stdout.flush()


def test_prints_then_fails():
    print("OUTPUT-MARKER captured-on-failure")
    print("OUTPUT-MARKER captured-stderr-on-failure", file=sys.stderr)
    assert False, "fails so its captured output is shown"

import os

FIXED = os.environ.get("COMPAT_FIXED") == "1"


def test_b1():
    pass


def test_b2_fails_until_fixed():
    assert FIXED


def test_b3():
    pass

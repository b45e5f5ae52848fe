"""A consistent failure and ordinary tests."""
import pytest


def test_always_fails():
    assert 1 + 1 == 3, "fails every time"


@pytest.mark.parametrize("n", range(6))
def test_ordinary(n):
    assert n >= 0

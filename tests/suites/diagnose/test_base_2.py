"""Ordinary tests: predecessors for the bisection to search."""
import pytest


@pytest.mark.parametrize("n", range(100))
def test_ordinary(n):
    assert n >= 0

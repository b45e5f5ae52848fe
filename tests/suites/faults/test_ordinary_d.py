# Fixture suite faults (see ../README.md): 50 ordinary passing tests among the faulty ones.
import pytest


@pytest.mark.parametrize("n", range(50))
def test_ordinary(n):
    assert n * 2 == n + n

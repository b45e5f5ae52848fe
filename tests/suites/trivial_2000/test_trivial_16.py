# Fixture suite trivial_2000 (see ../README.md): 100 trivial passing tests in this file.
import pytest


@pytest.mark.parametrize("n", range(100))
def test_trivial(n):
    assert n + 1 > n

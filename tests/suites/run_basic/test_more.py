# Fixture suite for `bulkhead run`: plain passing tests in a second file.
import pytest


@pytest.mark.parametrize("n", range(6))
def test_square(n):
    assert n * n >= n


class TestGroup:
    def test_one(self):
        assert 1

    def test_two(self):
        assert 2

import pytest

from shapes import area


def test_square():
    assert area("square", 3) == 9


def test_rect():
    assert area("rect", 2, 5) == 10


def test_unknown_kind():
    with pytest.raises(ValueError):
        area("hexagon", 1)


def test_fails():
    assert area("square", 2) == 5

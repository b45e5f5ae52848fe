"""A test that fails whatever ran before it."""


def test_always_fails():
    assert 1 + 1 == 3, "fails every time"

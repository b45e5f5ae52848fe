import pytest


@pytest.fixture
def one():
    return 1


@pytest.fixture
def two():
    return 2


@pytest.mark.parametrize("value", [pytest.lazy_fixture("one"), pytest.lazy_fixture("two")])
def test_lazy(value):
    assert value in (1, 2)

"""A polluter through a module global: it fills a cache its victim expects empty."""
import pytest

import diagnose_state


def test_global_polluter():
    diagnose_state.CACHE["user"] = "stale"


@pytest.mark.parametrize("n", range(10))
def test_between(n):
    pass


def test_global_victim():
    assert diagnose_state.CACHE == {}, "cache left filled"

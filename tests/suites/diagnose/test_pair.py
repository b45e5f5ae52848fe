"""Two tests that pollute only together: each sets one flag; the victim fails when both are."""
import pytest

import diagnose_state


def test_pair_first():
    diagnose_state.FLAGS.add("first")


@pytest.mark.parametrize("n", range(10))
def test_between(n):
    pass


def test_pair_second():
    diagnose_state.FLAGS.add("second")


def test_pair_victim():
    assert not {"first", "second"} <= diagnose_state.FLAGS, "both flags left set"

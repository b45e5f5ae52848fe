"""A polluter through an environment variable it sets and never restores."""
import os

import pytest


def test_env_polluter():
    os.environ["DIAGNOSE_FEATURE"] = "on"


@pytest.mark.parametrize("n", range(10))
def test_between(n):
    pass


def test_env_victim():
    assert "DIAGNOSE_FEATURE" not in os.environ, "DIAGNOSE_FEATURE left set"

"""A polluter through a file it leaves in /tmp; the victim removes it after looking."""
import os

import pytest

LOCK = "/tmp/bulkhead-diagnose-suite.lock"


def test_tmpfile_polluter():
    with open(LOCK, "w") as lock:
        lock.write("held\n")


@pytest.mark.parametrize("n", range(10))
def test_between(n):
    pass


def test_tmpfile_victim():
    try:
        assert not os.path.exists(LOCK), LOCK + " left behind"
    finally:
        if os.path.exists(LOCK):
            os.remove(LOCK)

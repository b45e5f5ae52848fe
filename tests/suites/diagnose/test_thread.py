"""A polluter through a thread it starts and leaves running (bounded: it ends within 60 s)."""
import threading

import pytest

STOP = threading.Event()


def test_thread_polluter():
    threading.Thread(target=STOP.wait, args=(60,), name="diagnose-leaked", daemon=True).start()


@pytest.mark.parametrize("n", range(10))
def test_between(n):
    pass


def test_thread_victim():
    try:
        alive = [t.name for t in threading.enumerate() if t.name == "diagnose-leaked"]
        assert not alive, "a thread left running"
    finally:
        STOP.set()

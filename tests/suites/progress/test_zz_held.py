"""A test held until the harness says: it writes `signals/started` (a write-through directory)
and waits, in `held_in_sleeping_function`, for `signals/release` (bounded: 60 s)."""
import os
import time

SIGNALS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signals")


def held_in_sleeping_function():
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(SIGNALS, "release")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_held():
    with open(os.path.join(SIGNALS, "started"), "w") as marker:
        marker.write("started\n")
    assert held_in_sleeping_function(), "never released"

# Fixture suite for `bulkhead run` fault containment: each test breaks its worker on purpose,
# in a bounded way. Select one with -k; the `ok_*` tests must still pass around them.
import ctypes
import os
import signal
import time

import pytest


def test_ok_before():
    assert True


@pytest.mark.timeout(1)
def test_hangs():
    deadline = time.monotonic() + 60  # bounded: the supervisor kills it long before
    while time.monotonic() < deadline:
        time.sleep(0.05)


def test_segfault():
    ctypes.string_at(0)


def test_os_exit():
    os._exit(7)


def test_abort():
    os.abort()


def test_kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def test_oom():
    chunks = []
    for _ in range(64):  # bounded: at most 64 x 64 MiB = 4 GiB, far past any test limit
        chunks.append(bytearray(64 << 20))


def test_ok_after():
    assert True


def test_slow():
    time.sleep(20)  # bounded; used to interrupt a run while a test is running

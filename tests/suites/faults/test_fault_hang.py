# Fixture suite faults (see ../README.md): four ways to hang, each bounded by FAULT_HANG_S.
import ctypes
import ctypes.util
import math
import threading
import time


def test_hang_sleep(hang_seconds):
    time.sleep(hang_seconds)
    raise AssertionError(f"slept {hang_seconds} s and nobody stopped the test")


def test_hang_busy_loop(hang_seconds):
    deadline = time.monotonic() + hang_seconds
    spins = 0
    while time.monotonic() < deadline:
        spins += 1
    raise AssertionError(f"spun {spins} times for {hang_seconds} s and nobody stopped the test")


def test_hang_deadlock(hang_seconds):
    first, second = threading.Lock(), threading.Lock()
    first_held = threading.Event()

    def other():
        with second:
            first_held.wait()
            first.acquire(timeout=hang_seconds)  # blocks: main holds `first`

    with first:
        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        time.sleep(0.1)  # let `other` take `second`
        first_held.set()
        got = second.acquire(timeout=hang_seconds)  # blocks: `other` holds `second`
        if got:
            second.release()
    raise AssertionError(f"deadlocked for {hang_seconds} s and nobody stopped the test")


def test_hang_in_c(hang_seconds):
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    # The interpreter is inside libc's sleep(): no Python code runs until it returns. A signal
    # (a stack-dump request, say) cuts sleep() short; like C code that retries on EINTR, go
    # back to sleep until the deadline.
    deadline = time.monotonic() + hang_seconds
    while (left := deadline - time.monotonic()) > 0:
        libc.sleep(ctypes.c_uint(max(1, math.ceil(left))))
    raise AssertionError(f"sat in libc sleep() for {hang_seconds} s and nobody stopped the test")

# Fixture suite faults (see ../README.md): four ways for the worker process to die mid-test.
# Each takes down the process running it, so it runs only inside a bulkhead worker.
import ctypes
import os
import signal


def test_crash_segfault(sandboxed):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def test_crash_abort(sandboxed):
    os.abort()  # SIGABRT


def test_crash_exit(sandboxed):
    os._exit(3)  # exits without reporting anything


def test_crash_sigkill(sandboxed):
    os.kill(os.getpid(), signal.SIGKILL)

# Fixture suite faults (see ../README.md): a test that SIGKILLs its parent process. Inside a
# bulkhead worker the parent is the sandbox's own init, never the supervisor. Outside one the
# parent would be whatever started pytest (a shell, ctest), so the test skips there.
import os
import signal
import time


def test_kill_parent(sandboxed):
    parent = os.getppid()
    os.kill(parent, signal.SIGKILL)
    time.sleep(1)  # give the kill a moment to land before reporting

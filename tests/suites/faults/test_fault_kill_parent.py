# Fixture suite faults (see ../README.md): a test that SIGKILLs its parent process. Inside a
# bulkhead worker the parent is the sandbox's own init, never the supervisor: as the host's
# root runs it, init is not the payload's to signal (EPERM); rootless, the kill lands on a
# pid-namespace init, which ignores it. Outside a worker the parent would be whatever started
# pytest (a shell, ctest), so the test skips there.
import os
import signal
import time


def test_kill_parent(sandboxed):
    parent = os.getppid()
    try:
        os.kill(parent, signal.SIGKILL)
    except PermissionError:
        pass
    time.sleep(1)  # give the kill a moment to land before reporting

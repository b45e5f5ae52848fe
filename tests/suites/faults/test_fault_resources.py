# Fixture suite faults (see ../README.md): tests that exhaust memory, processes, output, or leave
# a daemon behind. Each is bounded on its own, with or without a sandbox around it.
import os
import signal
import sys
import time

import pytest

STEP = 64 << 20  # 64 MiB per allocation
MEMORY_CAP = 2 << 30  # never more than 2 GiB, even with no memory limit
MAX_CHILDREN = 2000
CHILD_SLEEP_S = 10
OUTPUT_BYTES = 40 << 20


# The memory limit, not the clock, must stop it: writing hundreds of MiB (swapping near a v1
# limit) can take longer than the run's --timeout 5 on a loaded machine.
@pytest.mark.timeout(60)
def test_memory_hog():
    chunks = []
    while len(chunks) * STEP < MEMORY_CAP:
        chunks.append(b"\xa5" * STEP)  # written, so every page is really used
    total = len(chunks) * STEP
    chunks.clear()
    raise AssertionError(f"allocated {total >> 20} MiB and no memory limit stopped the test")


# The pids limit, not the clock, must stop the loop: ~1000 process starts take a few seconds on
# a loaded machine, more than the run's --timeout 5, so this test gets room of its own. Each
# child is started with posix_spawn (vfork: the worker's page tables, ~100 MB of a zygote's heap,
# are not copied a thousand times, which took over 60 s at load 9).
@pytest.mark.timeout(60)
def test_fork_loop():
    children = []
    error = None
    try:
        for _ in range(MAX_CHILDREN):
            try:
                # A tiny `sleep`: the pids limit, not the memory limit, stops the loop.
                pid = os.posix_spawn("/bin/sleep", ["sleep", str(CHILD_SLEEP_S)], os.environ)
            except OSError as e:  # EAGAIN at the pids limit: stop
                error = e
                break
            children.append(pid)
    finally:
        for pid in children:  # don't wait out their sleep: end them now
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    if error is not None:
        raise AssertionError(f"fork failed after {len(children)} children: {error}")
    raise AssertionError(f"forked {len(children)} children and no pids limit stopped the test")


def test_leftover_daemon():
    # A daemon the test forgets: double fork, new session, `sleep 300`; the test passes.
    # It keeps the test's stdout/stderr open, as careless daemons do.
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.execvp("sleep", ["sleep", "300"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def test_output_flood():
    line = "x" * 1023 + "\n"
    for _ in range(OUTPUT_BYTES // len(line)):
        sys.stdout.write(line)
    sys.stdout.flush()

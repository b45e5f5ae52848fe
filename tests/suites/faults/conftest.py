# Fixture suite faults (see ../README.md): shared bounds for the misbehaving tests.
#
# Every misbehaving test here stops by itself even if the sandbox around it were broken:
# hangs end after FAULT_HANG_S, the memory hog stops at 2 GiB, the fork loop at 2000 children,
# the leftover daemon after 300 s. Tests that would hurt the process that started pytest
# (killing its parent, crashing the interpreter) run only inside a bulkhead worker
# (BULKHEAD_WORKER set) or when BULKHEAD_FAULTS_UNGUARDED=1; elsewhere they skip.
import os

import pytest

FAULT_HANG_S = float(os.environ.get("BULKHEAD_FAULT_HANG_S", "120"))


def in_sandbox():
    return bool(os.environ.get("BULKHEAD_WORKER")) or os.environ.get(
        "BULKHEAD_FAULTS_UNGUARDED") == "1"


@pytest.fixture
def hang_seconds():
    return FAULT_HANG_S


@pytest.fixture
def sandboxed():
    """Skips a test that would take down the process running it outside a bulkhead worker."""
    if not in_sandbox():
        pytest.skip("runs only inside a bulkhead worker (or with BULKHEAD_FAULTS_UNGUARDED=1)")

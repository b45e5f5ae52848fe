# Fixture suite scoped (see ../README.md): a module-scoped fixture that records every setup.
#
# Each setup of `module_resource` creates one file in $BULKHEAD_SCOPED_DIR (when set) named
# "<module>.<worker>.<unique>", so counting files per module counts setups across all workers.
# It also sleeps 0.2 s, like a real expensive fixture, and every test records the setup's id
# as a user property ("module_setup") in reports and JUnit XML, for runs where workers cannot
# write to a shared directory.
import os
import time
import uuid

import pytest


@pytest.fixture(scope="module")
def module_resource(request):
    module = request.module.__name__
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    setup_id = f"{module}.{worker}.{uuid.uuid4().hex[:12]}"
    directory = os.environ.get("BULKHEAD_SCOPED_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, setup_id), "w") as f:
            f.write(f"{module} {worker} {os.getpid()}\n")
    time.sleep(0.2)
    return setup_id


@pytest.fixture(autouse=True)
def _record_setup(request, record_property):
    if "module_resource" in request.fixturenames:
        record_property("module_setup", request.getfixturevalue("module_resource"))

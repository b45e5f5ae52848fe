# Fixture suite mismatch (see ../README.md): each worker collects a differently named test, so
# the workers' collections disagree. Alone it runs 3 tests.
import os

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def test_same_everywhere():
    assert True


def test_same_everywhere_too():
    assert True


@pytest.mark.parametrize("worker", [WORKER])
def test_named_after_worker(worker):
    assert worker

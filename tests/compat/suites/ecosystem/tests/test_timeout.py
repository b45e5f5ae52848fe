import time

import pytest


@pytest.mark.timeout(1)
def test_marker_timeout():
    time.sleep(30)


def test_ini_timeout():
    time.sleep(30)


def test_quick():
    time.sleep(0.01)

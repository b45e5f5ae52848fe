"""What each test costs, for bulkhead's per-test resources: run in this order in one worker
(-n 1), each test's figures are its own (the peak is reset at every test's start)."""
import subprocess
import time

MIB = 1 << 20


def test_a_small():
    assert sum(range(1000)) == 499500


def test_b_allocates_200_mib():
    data = b"x" * (200 * MIB)  # every page written, so charged to the sandbox's cgroup
    assert len(data) == 200 * MIB
    del data


def test_c_small_after_big():
    assert sum(range(1000)) == 499500


def test_d_burns_cpu():
    start = time.process_time()
    give_up = time.monotonic() + 30  # bounded even on a machine that starves us
    while time.process_time() - start < 0.3 and time.monotonic() < give_up:
        pass
    assert time.process_time() - start >= 0.3


def test_e_starts_five_processes():
    for _ in range(5):
        subprocess.run(["true"], check=True)

"""The collisions demo: tests that pass alone but collide when two run at once.

Each test grabs one shared resource -- a fixed TCP port, a fixed file in /tmp, a fixed file in
the working directory, a fixed database -- holds it for HOLD seconds, then checks it still has
it. Run one at a time (plain `pytest`) they all pass. Under `pytest -n 2` both workers run the
same kind of test at the same moment and trip over each other. Under `bulkhead run -n 2` each
worker has its own /tmp, network, working directory and database name, and all pass.

The order of the tests below is deliberate. pytest-xdist's default `--dist load` hands the first
two tests to gw0 and the next two to gw1, then gives each worker the next test whenever it
finishes one: so gw0 runs *_a and gw1 runs *_b of each pair at the same time.
"""
import json
import os
import socket
import sqlite3
import time
import uuid

import pytest

HOLD = 1.0  # seconds each test holds its resource; far more than the workers' start-up skew
PACE = 1.3  # seconds every test takes, pass or fail, so the two workers stay in step
PORT = 8765
TMP_FILE = "/tmp/bulkhead_demo.json"
CWD_FILE = "bulkhead_demo_output.txt"
DEFAULT_DATABASE_URL = "sqlite:///bulkhead_demo.db"


def me():
    """A value no other test run shares: which worker, plus a random tag."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}"


def database_path():
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    prefix = "sqlite:///"
    assert url.startswith(prefix), f"this demo speaks only sqlite, got DATABASE_URL={url}"
    return url[len(prefix):]


def hold_port():
    """A test server on a fixed port, the way many suites start one."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind(("127.0.0.1", PORT))  # EADDRINUSE when another worker holds it
        server.listen(1)
        client = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        client.close()
        time.sleep(HOLD)
    finally:
        server.close()


def write_then_read(path):
    """Write a value, do some work, read it back: someone else's value means a collision."""
    mine = me()
    try:
        with open(path, "w") as f:
            json.dump({"owner": mine}, f)
        time.sleep(HOLD)
        with open(path) as f:
            assert json.load(f)["owner"] == mine, f"another test rewrote {path}"
    finally:
        if os.path.exists(path):
            os.remove(path)


def create_table():
    """A schema created fresh for the test, as an ORM's create_all() would."""
    path = database_path()
    db = sqlite3.connect(path, timeout=5)
    try:
        db.execute("CREATE TABLE results (owner TEXT)")  # fails if another worker created it
        db.execute("INSERT INTO results VALUES (?)", (me(),))
        db.commit()
        time.sleep(HOLD)
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1
    finally:
        db.close()
        if os.path.exists(path):
            os.remove(path)


@pytest.fixture(autouse=True)
def steady_pace():
    """Makes every test last PACE seconds, even one that fails at once (a port already taken).

    Without it a fast failure would let one worker run ahead, and the next pair of tests would
    no longer overlap: the demo would show fewer collisions than the suite really has.
    """
    start = time.monotonic()
    yield
    time.sleep(max(0.0, start + PACE - time.monotonic()))


# gw0 gets the first two, gw1 the next two (see the module docstring).
def test_port_a():
    hold_port()


def test_tmp_file_a():
    write_then_read(TMP_FILE)


def test_port_b():
    hold_port()


def test_tmp_file_b():
    write_then_read(TMP_FILE)


# Then each worker takes the next test as it finishes one: a and b still run side by side.
def test_cwd_file_a():
    write_then_read(CWD_FILE)


def test_cwd_file_b():
    write_then_read(CWD_FILE)


def test_database_a():
    create_table()


def test_database_b():
    create_table()

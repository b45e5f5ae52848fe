"""Tests that leave something behind (one kind each), clean neighbours, and what must not
count: a module fixture's thread, a class fixture's (in a class and outside one), a thread
joined in time, a thread that a test leaked ending during the next test. Each leaker stays
bounded (threads and processes end within seconds)."""
import os
import socket
import subprocess
import tempfile
import threading
import time

import pytest

_KEEP = []  # what the leakers hold on to (so no garbage collection closes it)


def _thread_until_teardown(name):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(10,), name=name)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture(scope="module")
def module_server():
    yield from _thread_until_teardown("module-fixture-thread")


@pytest.fixture(scope="class")
def class_thread():
    yield from _thread_until_teardown("class-fixture-thread")


def test_a_clean():
    assert sum(range(10)) == 45


def test_b_module_fixture_thread(module_server):
    pass  # the module fixture's thread is the fixture's, not this test's


def test_c_joined_thread(tmp_path):
    thread = threading.Thread(target=time.sleep, args=(0.05,))
    thread.start()
    thread.join()
    (tmp_path / "x").write_text("pytest's tmp_path is not a leak")


def test_d_thread():
    threading.Thread(target=time.sleep, args=(1.5,), name="leaky-thread", daemon=True).start()


def test_e_after_thread():
    time.sleep(2)  # the previous test's thread ends during this one: not this test's


def test_f_process():
    _KEEP.append(subprocess.Popen(["sleep", "5"]))


def test_g_tmp_file():
    handle, path = tempfile.mkstemp(prefix="leaky-", dir="/tmp")
    os.close(handle)


def test_h_listening_tcp():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    _KEEP.append(server)


def test_h_listening_unix():
    server = socket.socket(socket.AF_UNIX)
    server.bind("\0bulkhead-leaky.sock")  # abstract: no file to leak besides
    server.listen()
    _KEEP.append(server)


def test_i_environ():
    os.environ["BULKHEAD_LEAKY_VAR"] = "1"


def test_j_fd():
    _KEEP.append(open(__file__))


def test_k_monkeypatched_env(monkeypatch):
    monkeypatch.setenv("BULKHEAD_RESTORED_VAR", "1")  # restored at teardown: clean


def test_l_clean_after():
    pass


def test_m_closes_what_others_left():
    for kept in _KEEP:  # closing is no leak; the numbers it frees are taken again below
        if hasattr(kept, "close") and not hasattr(kept, "poll"):
            kept.close()


def test_n_fd_again():
    _KEEP.append(open(__file__, "rb"))


def test_o_class_fixture_outside_a_class(class_thread):
    pass  # outside a class, a class fixture ends with the test: its thread is gone by then


class TestP:
    def test_p1_class_fixture(self, class_thread):
        pass  # the class fixture's thread lives on into the next test: the fixture's

    def test_p2_class_fixture(self, class_thread):
        pass

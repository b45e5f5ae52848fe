import os


def test_worker_dies_first():
    if os.environ.get("HOST_SESSION_CRASH") == "1":
        os._exit(3)  # its worker is replaced: the controller configures a new node

"""Support for the forward and setup/teardown tests: a real PostgreSQL and Redis (started by
examples/services/servers.sh, stopped at the end whatever happens), echo servers on the host,
and counting a process's descriptors and threads."""
import os
import socket
import socketserver
import subprocess
import tempfile
import textwrap
import threading

import pytest

from helpers import BULKHEAD, SOURCE_DIR, SYSTEM_PYTHON

SERVERS_SH = os.path.join(SOURCE_DIR, "examples", "services", "servers.sh")


@pytest.fixture(scope="module")
def servers():
    """A PostgreSQL and a Redis on free loopback ports; yields their settings (DATABASE_URL...)."""
    work = tempfile.mkdtemp(prefix="bulkhead-services-")
    os.chmod(work, 0o755)
    directory = os.path.join(work, "servers")
    try:
        started = subprocess.run([SERVERS_SH, "start", directory], capture_output=True, text=True,
                                 timeout=120)
        assert started.returncode == 0, started.stderr
        settings = {}
        with open(os.path.join(directory, "env")) as env:
            for line in env:
                key, _, value = line.strip().partition("=")
                settings[key] = value
        settings["ADMIN_URL"] = settings["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
        psql(settings, "CREATE DATABASE app")
        yield settings
    finally:
        subprocess.run([SERVERS_SH, "stop", directory], capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", work])


def suite(tmp_path, text):
    """A pytest suite in tmp_path: test_suite.py from `text`, fixed order, no cache."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:randomly -p no:random_order\n")
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(text))
    return tmp_path


def psql(settings, sql, database=None):
    url = settings["ADMIN_URL"] if database is None else settings["ADMIN_URL"].rsplit("/", 1)[0] + "/" + database
    result = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def databases(settings):
    """What `psql -l` lists: every database's name."""
    result = subprocess.run(["psql", "-X", "-l", "-At", settings["ADMIN_URL"]], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(line.split("|")[0] for line in result.stdout.splitlines() if "|" in line)


def run(args, cwd, env=None, timeout=240):
    """`bulkhead run ARGS` in cwd with os.environ plus `env`."""
    full = dict(os.environ)
    full.update(env or {})
    full.setdefault("COLUMNS", "80")
    return subprocess.run([BULKHEAD, "run", "--python", SYSTEM_PYTHON, "--color", "no", *args],
                          cwd=str(cwd), env=full, capture_output=True, text=True,
                          timeout=timeout)


def start(args, cwd, env=None):
    full = dict(os.environ)
    full.update(env or {})
    full.setdefault("COLUMNS", "80")
    return subprocess.Popen([BULKHEAD, "run", "--python", SYSTEM_PYTHON, "--color", "no", *args],
                            cwd=str(cwd), env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def exec_python(code, forwards, timeout=60, env=None):
    """`bulkhead exec --forward F... -- python3 -c CODE`."""
    args = [BULKHEAD, "exec", "-q"]
    for forward in forwards:
        args += ["--forward", forward]
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([*args, "--", SYSTEM_PYTHON, "-c", code], capture_output=True,
                          text=True, timeout=timeout, cwd="/", env=full)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EchoServer:
    """Echoes every connection until the client half-closes, then closes. Counts connections
    open now and ended by a reset. `family` AF_INET (127.0.0.1) or AF_UNIX (path)."""

    def __init__(self, family=socket.AF_INET, path=None, host="127.0.0.1"):
        self.open = 0
        self.total = 0
        self.resets = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with outer.lock:
                    outer.open += 1
                    outer.total += 1
                try:
                    while True:
                        data = self.request.recv(65536)
                        if not data:
                            self.request.shutdown(socket.SHUT_WR)
                            break
                        self.request.sendall(data)
                except ConnectionResetError:
                    with outer.lock:
                        outer.resets += 1
                except OSError:
                    pass
                finally:
                    with outer.lock:
                        outer.open -= 1

        if family == socket.AF_UNIX:
            class Server(socketserver.ThreadingUnixStreamServer):
                daemon_threads = True
                request_queue_size = 1024
            self.server = Server(path, Handler)
            self.address = path
        else:
            class Server(socketserver.ThreadingTCPServer):
                daemon_threads = True
                allow_reuse_address = True
                request_queue_size = 1024
                address_family = family
            self.server = Server((host, 0), Handler)
            self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

"""Forwards (--forward): every kind, many connections at once, resets in either direction, a
target that is down, what is not forwarded, and a worker killed with connections open, tested
from inside the sandbox against real sockets on the host."""
import os
import socket
import subprocess
import tempfile
import textwrap
import threading
import time

import pytest

from helpers import BULKHEAD, SYSTEM_PYTHON, leaked_cgroups
from services_support import (EchoServer, exec_python, fd_count, free_port, run, start,
                              thread_count)

# Client side, run inside the sandbox: sends `size` bytes (from a thread, reading the echo
# meanwhile: an echo holds only as much as the buffers between), half-closes, checks the echo.
ROUND_TRIP = textwrap.dedent("""
    import hashlib, os, socket, sys, threading
    def round_trip(family, address, size=1 << 20):
        data = os.urandom(size)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(20)
            s.connect(address)
            def send():
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send)
            sender.start()
            got = bytearray()
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                got += chunk
            sender.join()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), (len(got), size)
        return "ok"
""")


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def unix_echo():
    directory = tempfile.mkdtemp(prefix="bulkhead-fwd-")
    server = EchoServer(socket.AF_UNIX, os.path.join(directory, "echo.sock"))
    yield server
    server.close()
    os.unlink(server.address)
    os.rmdir(directory)


def test_every_forward_kind(echo, unix_echo):
    # /run/postgresql exists on the host (the postgresql package makes it): inside, a private
    # tmpfs covers it, so the host's own sockets there stay out of reach.
    assert os.path.isdir("/run/postgresql")
    v6 = EchoServer(socket.AF_INET6, host="::1")
    try:
        tcp_to_v6, tcp_to_unix = free_port(), free_port()
        code = ROUND_TRIP + textwrap.dedent(f"""
            print("tcp", round_trip(socket.AF_INET, ("127.0.0.1", {echo.port})))
            print("tcp ::1 inside", round_trip(socket.AF_INET6, ("::1", {echo.port})))
            print("ipv6 target", round_trip(socket.AF_INET, ("127.0.0.1", {tcp_to_v6})))
            print("unix target", round_trip(socket.AF_INET, ("127.0.0.1", {tcp_to_unix})))
            print("unix inside", round_trip(socket.AF_UNIX, "/run/postgresql/.s.PGSQL.{echo.port}"))
            print("unix inside to tcp", round_trip(socket.AF_UNIX, "/tmp/deep/er/tcp.sock"))
            # The socket's directory is the sandbox's own: nothing of the host's is in it.
            print("dir", sorted(os.listdir("/run/postgresql")))
        """)
        result = exec_python(code, [
            str(echo.port),
            f"{tcp_to_v6}=[::1]:{v6.port}",
            f"{tcp_to_unix}=unix:{unix_echo.address}",
            f"unix:/run/postgresql/.s.PGSQL.{echo.port}=unix:{unix_echo.address}",
            f"unix:/tmp/deep/er/tcp.sock=127.0.0.1:{echo.port}",
        ])
        assert result.returncode == 0, result.stderr
        for kind in ("tcp", "tcp ::1 inside", "ipv6 target", "unix target", "unix inside",
                     "unix inside to tcp"):
            assert f"{kind} ok" in result.stdout, result.stdout
        assert f"dir ['.s.PGSQL.{echo.port}']" in result.stdout
        assert echo.total == 3 and v6.total == 1 and unix_echo.total == 2
    finally:
        v6.close()


FORWARDED_SUITE = ROUND_TRIP + textwrap.dedent("""
    import pytest

    @pytest.mark.parametrize("i", range(4))
    def test_reach(i):
        port = int(os.environ["ECHO_PORT"])
        assert round_trip(socket.AF_INET, ("127.0.0.1", port), 1 << 16) == "ok"
        assert round_trip(socket.AF_INET6, ("::1", port), 1 << 16) == "ok"
        assert round_trip(socket.AF_UNIX, "/run/app/echo.sock", 1 << 16) == "ok"
        # The socket's directory is this worker's own.
        assert os.listdir("/run/app") == ["echo.sock"]
""")


@pytest.mark.parametrize("zygote", ["on", "off"])
def test_forwards_in_forked_and_spawned_workers(tmp_path, echo, unix_echo, zygote):
    """Zygote mode: each forked worker's init makes its listeners as a spawned one's does."""
    (tmp_path / "test_reach.py").write_text(FORWARDED_SUITE)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider -p no:randomly -p no:random_order\n")
    result = run(["-n", "2", "--zygote", zygote, "--forward", str(echo.port),
                  "--forward", f"unix:/run/app/echo.sock=unix:{unix_echo.address}"],
                 cwd=tmp_path, env={"ECHO_PORT": str(echo.port)}, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "4 passed" in result.stdout, output
    if zygote == "on":
        assert "not forked" not in output, output
    assert echo.total == 8 and unix_echo.total == 4
    deadline = time.monotonic() + 5
    while (echo.open or unix_echo.open) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert echo.open == 0 and unix_echo.open == 0
    assert not leaked_cgroups()


def test_two_hundred_connections_at_once(echo):
    code = ROUND_TRIP + textwrap.dedent(f"""
        import threading
        barrier = threading.Barrier(200)
        errors = []
        def client(i):
            try:
                barrier.wait(timeout=60)
                round_trip(socket.AF_INET, ("127.0.0.1", {echo.port}), 64 * 1024 + i)
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("errors", len(errors), errors[:3])
    """)
    started = time.monotonic()
    result = exec_python(code, [str(echo.port)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "errors 0 []" in result.stdout, result.stdout
    assert echo.total == 200
    print(f"200 concurrent round trips of ~64 KiB: {time.monotonic() - started:.2f} s")


def test_client_reset_mid_stream_resets_the_server_side(echo):
    code = textwrap.dedent(f"""
        import socket, struct, time
        s = socket.create_connection(("127.0.0.1", {echo.port}))
        s.sendall(b"x" * 100000)
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # a reset, mid-stream
        time.sleep(0.5)
        t = socket.create_connection(("127.0.0.1", {echo.port}))
        t.sendall(b"after"); t.shutdown(socket.SHUT_WR)
        print("after", t.recv(100))
    """)
    result = exec_python(code, [str(echo.port)])
    assert result.returncode == 0, result.stderr
    assert "after b'after'" in result.stdout
    deadline = time.monotonic() + 5
    while echo.open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert echo.open == 0
    assert echo.resets == 1, "the client's reset must reach the server as a reset"


def test_server_reset_mid_stream_reaches_the_client():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def serve():
        connection, _ = server.accept()
        connection.recv(5)
        connection.sendall(b"partial")
        time.sleep(0.3)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = textwrap.dedent(f"""
        import socket, time
        s = socket.create_connection(("127.0.0.1", {port}))
        s.settimeout(10)
        s.sendall(b"hello")
        print("got", s.recv(100))
        started = time.monotonic()
        try:
            rest = s.recv(100)
            outcome = "eof" if rest == b"" else repr(rest)
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "hang"
        print("then", outcome, round(time.monotonic() - started, 2))
    """)
    try:
        result = exec_python(code, [str(port)])
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "got b'partial'" in result.stdout
    assert "then reset" in result.stdout, result.stdout
    waited = float(result.stdout.split()[-1])
    assert waited < 2.0


def test_a_target_that_is_down_is_refused_at_once():
    down_port = free_port()
    code = textwrap.dedent(f"""
        import socket, time
        for address in [("127.0.0.1", {down_port}), "/run/down.sock"]:
            family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
            started = time.monotonic()
            s = socket.socket(family)
            s.settimeout(10)
            try:
                s.connect(address)
                outcome = "eof" if s.recv(10) == b"" else "data"
            except (ConnectionResetError, ConnectionRefusedError):
                outcome = "refused"
            except socket.timeout:
                outcome = "hang"
            print(address, outcome, round(time.monotonic() - started, 2))
    """)
    result = exec_python(code, [str(down_port), "unix:/run/down.sock=unix:/nonexistent/x.sock"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    # TCP: a reset, as a refusal; a unix socket has no reset: it is closed at once.
    assert " refused " in lines[0], result.stdout
    assert " eof " in lines[1] or " refused " in lines[1], result.stdout
    for line in lines:
        assert float(line.split()[-1]) < 1.0, result.stdout


def test_what_is_not_forwarded_stays_unreachable(echo):
    other = EchoServer(host="0.0.0.0")
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0bulkhead-test-abstract-%d" % os.getpid())
    abstract.listen()
    try:
        external = [a for a in os.popen("hostname -I").read().split() if ":" not in a]
        code = textwrap.dedent(f"""
            import socket
            def attempt(family, address):
                s = socket.socket(family)
                s.settimeout(3)
                try:
                    s.connect(address)
                    return "CONNECTED"
                except OSError as e:
                    return type(e).__name__
            print("forwarded", attempt(socket.AF_INET, ("127.0.0.1", {echo.port})))
            print("loopback", attempt(socket.AF_INET, ("127.0.0.1", {other.port})))
            print("loopback6", attempt(socket.AF_INET6, ("::1", {other.port})))
            for ip in {external!r}:
                print("external", attempt(socket.AF_INET, (ip, {other.port})))
            print("abstract", attempt(socket.AF_UNIX, "\\0bulkhead-test-abstract-{os.getpid()}"))
        """)
        result = exec_python(code, [str(echo.port)])
        assert result.returncode == 0, result.stderr
        assert "forwarded CONNECTED" in result.stdout
        assert "loopback ConnectionRefusedError" in result.stdout
        assert "loopback6 ConnectionRefusedError" in result.stdout
        assert "abstract ConnectionRefusedError" in result.stdout
        assert "CONNECTED" not in result.stdout.replace("forwarded CONNECTED", ""), result.stdout
        assert other.total == 0
    finally:
        other.close()
        abstract.close()


SUITE = textwrap.dedent("""
    import os, signal, socket

    def control(message):
        with socket.create_connection(("127.0.0.1", int(os.environ["CONTROL_PORT"]))) as c:
            c.sendall(message.encode() + b"\\n")
            assert c.recv(10) == b"ok\\n"

    def test_1_open_connections_then_die():
        control("start")
        port = int(os.environ["ECHO_PORT"])
        held = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"ping")
            assert s.recv(4) == b"ping"
            held.append(s)
        control("open")
        os.kill(os.getpid(), signal.SIGKILL)

    def test_2_after():
        control("after")
""")


def test_worker_killed_with_connections_open_leaks_nothing(tmp_path, echo):
    (tmp_path / "test_killed.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:randomly -p no:random_order\n")
    control = socket.socket()
    control.bind(("127.0.0.1", 0))
    control.listen()
    control_port = control.getsockname()[1]
    measured = {}
    process = None

    def serve():
        while True:
            try:
                connection, _ = control.accept()
            except OSError:
                return
            with connection:
                stage = connection.recv(100).decode().strip()
                time.sleep(0.3)  # let the relay settle (a worker just ended: its detach)
                measured[stage] = (fd_count(process.pid), thread_count(process.pid), echo.open)
                connection.sendall(b"ok\n")

    thread = threading.Thread(target=serve, daemon=True)
    process = start(["-n", "1", "--forward", str(control_port), "--forward", str(echo.port)],
                    cwd=tmp_path,
                    env={"CONTROL_PORT": str(control_port), "ECHO_PORT": str(echo.port)})
    thread.start()
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        control.close()
    assert process.returncode == 1, out + err
    assert "1 failed, 1 passed" in out, out
    assert "CRASHED" in out or "crash" in out.lower(), out
    start_fds, start_threads, _ = measured["start"]
    open_fds, open_threads, open_echo = measured["open"]
    after_fds, after_threads, after_echo = measured["after"]
    print("supervisor fds start/open/after:", start_fds, open_fds, after_fds,
          "threads:", start_threads, open_threads, after_threads)
    assert open_echo == 50
    assert open_fds >= start_fds + 50 * 2, "50 relayed connections hold descriptors"
    assert after_fds == start_fds, "the dead worker's connections and listeners were closed"
    assert start_threads == open_threads == after_threads == 2, "one relay thread, always"
    assert after_echo == 0, "the server side of each connection was closed"
    assert not leaked_cgroups()


def test_rootless_forwards(echo):
    """Without root, init still makes the listeners in the sandbox's own network namespace (a
    privileged port too: its user namespace owns that namespace) and hands them out."""
    home = tempfile.mkdtemp(prefix="bulkhead-rootless-", dir="/tmp")
    os.chmod(home, 0o777)
    code = textwrap.dedent("""
        import os, socket
        c = socket.create_connection(("127.0.0.1", 80))
        c.sendall(b"rootless"); c.shutdown(socket.SHUT_WR)
        print(os.getuid(), c.recv(100), os.listdir("/run/postgresql"))
    """)
    try:
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BULKHEAD, "exec", "-q",
             "--forward", f"80={echo.port}", "--forward",
             f"unix:/run/postgresql/.s.PGSQL.1=127.0.0.1:{echo.port}", "--", SYSTEM_PYTHON, "-c",
             code], cwd=home, env={**os.environ, "HOME": home}, capture_output=True, text=True,
            timeout=60)
    finally:
        os.rmdir(home)
    if "cannot create a user namespace" in result.stderr:
        pytest.skip("unprivileged user namespaces are blocked on this kernel")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["65534", "b'rootless'", "['.s.PGSQL.1']"]


def test_sandbox_init_keeps_none_of_the_supervisors_descriptors():
    """A sandbox's init is cloned with a copy of the supervisor's descriptors (other workers'
    pipes, the relay's sockets). It must close them: a relayed connection whose socket lived on
    in another sandbox's init would never close on the server's side. Seen from the host (the
    payload may not read its init's /proc/1/fd)."""
    ours, theirs = socket.socketpair()
    inode = os.fstat(ours.fileno()).st_ino
    process = subprocess.Popen(
        [BULKHEAD, "exec", "-q", "--", SYSTEM_PYTHON, "-c",
         "import sys, time; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/",
        pass_fds=(ours.fileno(),))
    try:
        assert process.stdout.readline() == "ready\n"
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            inits = f.read().split()
        assert len(inits) == 1
        held = sorted(os.readlink(f"/proc/{inits[0]}/fd/{fd}")
                      for fd in os.listdir(f"/proc/{inits[0]}/fd"))
        supervisor = os.listdir(f"/proc/{process.pid}/fd")
    finally:
        process.stdin.close()
        process.wait(timeout=30)
        ours.close()
        theirs.close()
    assert f"socket:[{inode}]" not in held, held
    assert len(held) < len(supervisor), (held, supervisor)

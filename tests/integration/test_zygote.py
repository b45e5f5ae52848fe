"""Zygote mode (`--zygote on`): the suite is collected once and every worker forked from that
process into its own sandbox; where forking would change what a test sees, the workers are
spawned as before, with one line saying why. Also `--isolate test|file`: a fresh sandbox per
test or file, asserted from inside."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from helpers import (BULKHEAD, leaked_cgroups, processes_with_env_marker, run_bulkhead,
                     write_files)

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD not set")

FALLBACK = "workers are started on their own, not forked"


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"


def imported_lines(stdout):
    return [line for line in stdout.splitlines() if line.endswith("CONFTEST IMPORTED")]


def test_collection_runs_once_and_workers_are_forked(tmp_path):
    suite = write_files(tmp_path, {
        "conftest.py": "print('CONFTEST IMPORTED')\n",
        "test_many.py": """
            import os, socket
            import pytest

            @pytest.mark.parametrize("n", range(8))
            def test_worker_identity(n):
                name = os.environ["PYTEST_XDIST_WORKER"]
                assert socket.gethostname() == name
                assert os.getpid() == 2  # the payload of its own pid namespace
            """,
    })
    zygote = run_bulkhead("-n", "3", "--zygote", "on", "-s", cwd=suite)
    assert zygote.returncode == 0, zygote.stdout + zygote.stderr
    assert FALLBACK not in zygote.stdout
    assert "8 passed" in zygote.stdout
    assert len(imported_lines(zygote.stdout)) == 1, zygote.stdout  # the zygote's, once
    spawned = run_bulkhead("-n", "3", "--zygote", "off", "-s", cwd=suite)
    assert spawned.returncode == 0, spawned.stdout
    assert len(imported_lines(spawned.stdout)) == 3, spawned.stdout  # every worker's


def test_thread_alive_after_collection_falls_back_with_the_reason(tmp_path):
    suite = write_files(tmp_path, {
        "conftest.py": """
            import threading, time
            threading.Thread(target=time.sleep, args=(3600,), name="poller", daemon=True).start()
            """,
        "test_a.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    })
    result = run_bulkhead("-n", "2", "--zygote", "on", cwd=suite)
    assert result.returncode == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if FALLBACK in line]
    assert len(lines) == 1, result.stdout
    assert "threads alive after collection: poller" in lines[0]
    assert "2 passed" in result.stdout


def test_per_worker_variable_read_at_import_falls_back_naming_the_line(tmp_path):
    suite = write_files(tmp_path, {
        "settings.py": """
            import os
            DATABASE = "app_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
            """,
        "test_db.py": """
            import os
            import settings

            def test_own_database():
                assert settings.DATABASE == "app_" + os.environ["PYTEST_XDIST_WORKER"]

            def test_again():
                assert settings.DATABASE == "app_" + os.environ["PYTEST_XDIST_WORKER"]
            """,
    })
    result = run_bulkhead("-n", "2", "--zygote", "on", cwd=suite)
    assert result.returncode == 0, result.stdout  # each worker imported its own value
    assert "settings.py:3 reads PYTEST_XDIST_WORKER at import" in result.stdout, result.stdout


def test_file_opened_during_collection_falls_back(tmp_path):
    suite = write_files(tmp_path, {
        "conftest.py": "LOG = open('/tmp/shared.log', 'a')\n",
        "test_a.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    })
    result = run_bulkhead("-n", "2", "--zygote", "on", cwd=suite)
    assert result.returncode == 0, result.stdout
    assert "files opened during collection would be shared by every worker" in result.stdout
    assert "/tmp/shared.log" in result.stdout


def test_conftest_declaring_itself_fork_unsafe_falls_back_with_its_reason(tmp_path):
    suite = write_files(tmp_path, {
        "conftest.py": "bulkhead_fork_unsafe = 'holds a connection pool'\n",
        "test_a.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    })
    result = run_bulkhead("-n", "2", "--zygote", "on", cwd=suite)
    assert result.returncode == 0, result.stdout
    assert FALLBACK in result.stdout
    assert "conftest.py declares itself fork-unsafe: holds a connection pool" in result.stdout


ISOLATED = {
    "test_fresh.py": """
        import os, socket
        import pytest

        KEEP = []

        @pytest.mark.parametrize("n", range(6))
        def test_fresh_tmp_and_network(n):
            # Nothing an earlier test left: its file in /tmp, its listener on a fixed port.
            left = [name for name in os.listdir("/tmp") if name.startswith("left-by-")]
            assert left == []
            open("/tmp/left-by-%d" % n, "w").close()
            listener = socket.socket()
            listener.bind(("127.0.0.1", 8765))
            listener.listen()
            KEEP.append(listener)
        """,
}


@pytest.mark.parametrize("mode", ["on", "off"])
def test_isolate_test_gives_every_test_a_fresh_tmp_and_network(tmp_path, mode):
    suite = write_files(tmp_path, ISOLATED)
    result = run_bulkhead("-n", "2", "--isolate", "test", "--zygote", mode, "-p",
                          "no:cacheprovider", "-p", "no:random_order", cwd=suite)
    assert result.returncode == 0, result.stdout
    assert "6 passed" in result.stdout
    assert FALLBACK not in result.stdout
    # The same tests share a sandbox per worker without it: the check can fail (every test but
    # each worker's first; one worker may run them all).
    shared = run_bulkhead("-n", "2", "--zygote", mode, "-p", "no:cacheprovider", "-p",
                          "no:random_order", cwd=suite)
    assert shared.returncode == 1, shared.stdout
    assert "4 failed, 2 passed" in shared.stdout or "5 failed, 1 passed" in shared.stdout


def test_isolate_file_runs_each_file_in_its_own_sandbox(tmp_path):
    files = {}
    for i in range(3):
        files[f"test_f{i}.py"] = f"""
            import os

            def mine():
                return sorted(name for name in os.listdir("/tmp") if name.startswith("file-"))

            def test_first():
                assert mine() == []
                open("/tmp/file-{i}", "w").close()

            def test_second_sees_its_file_only():
                assert mine() == ["file-{i}"]
            """
    suite = write_files(tmp_path, files)
    result = run_bulkhead("-n", "2", "--isolate", "file", "--zygote", "on", "-p",
                          "no:cacheprovider", "-p", "no:random_order", cwd=suite)
    assert result.returncode == 0, result.stdout
    assert "6 passed" in result.stdout


def test_forked_worker_ends_as_a_python_process_does(tmp_path):
    # A forked worker skips the interpreter's teardown (it would copy the zygote's pages) but
    # not what a program sees of its end: non-daemon threads joined, atexit handlers (the
    # zygote's and its own) run, buffered output flushed, pytest's exit status.
    suite = write_files(tmp_path, {
        "conftest.py": """
            import atexit, os
            atexit.register(lambda: print("ZYGOTE-" + "ATEXIT", os.environ["PYTEST_XDIST_WORKER"]))
            """,
        "test_end.py": """
            import atexit, os, sys, threading, time
            import pytest

            @pytest.mark.parametrize("n", range(4))
            def test_registers(n):
                name = os.environ["PYTEST_XDIST_WORKER"]
                atexit.register(lambda: sys.stdout.write("WORKER-" + "ATEXIT %s\\n" % name))
                threading.Thread(target=lambda: (time.sleep(0.3), print("THREAD-" + "JOINED", name)))\\
                    .start()
                assert n != 3
            """,
    })
    result = run_bulkhead("-n", "2", "--zygote", "on", "--isolate", "test", "-s",
                          "-p", "no:randomly", cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    assert FALLBACK not in result.stdout
    assert "1 failed, 3 passed" in result.stdout, result.stdout
    lines = result.stdout.splitlines()
    for marker in ("ZYGOTE-ATEXIT", "WORKER-ATEXIT", "THREAD-JOINED"):
        assert sum(marker + " gw" in line for line in lines) == 4, (marker, result.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_rootless_run_forks_workers_with_their_own_overlays():
    # Rootless (the caller's uid mapped to itself): workers are forked, and each one's project
    # overlay is mounted (it used to be refused with EACCES, leaving the project read-only).
    root = tempfile.mkdtemp(prefix="bulkhead-rootless-zygote-", dir="/tmp")
    try:
        suite = write_files(pathlib.Path(root), {
            "test_rootless.py": """
                import os, socket
                import pytest

                @pytest.mark.parametrize("n", range(4))
                def test_own_sandbox(n):
                    assert os.getuid() == 65534 and os.getpid() == 2
                    assert socket.gethostname() == os.environ["PYTEST_XDIST_WORKER"]
                    open("written-%d.txt" % n, "w").write("x")  # the project overlay
                    open("/tmp/mine-%d" % n, "w").write("x")
                """,
        })
        for path in [suite] + list(suite.iterdir()):
            os.chown(path, 65534, 65534)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BULKHEAD, "run",
             "-n", "2", "--zygote", "on", "-p", "no:cacheprovider", "-p", "no:random_order"],
            cwd=suite, env={**os.environ, "HOME": root, "XDG_CACHE_HOME": "/nonexistent"},
            capture_output=True, text=True, timeout=120)  # no probe cache in the project
        if "user namespace: refused" in result.stdout + result.stderr:
            pytest.skip("unprivileged user namespaces are blocked on this kernel")
        assert result.returncode == 0, result.stdout + result.stderr
        assert FALLBACK not in result.stdout, result.stdout
        assert "4 passed" in result.stdout, result.stdout
        assert "overlay" not in result.stdout + result.stderr, result.stdout + result.stderr
        assert sorted(p.name for p in suite.iterdir()) == ["test_rootless.py"]  # host unchanged
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_isolate_test_with_dist_loadscope_is_a_usage_error(tmp_path):
    result = run_bulkhead("--isolate", "test", "--dist", "loadscope", cwd=tmp_path)
    assert result.returncode == 4
    assert "--isolate test" in result.stderr and "loadscope" in result.stderr


def test_crashed_worker_is_replaced_by_a_fork(tmp_path):
    suite = write_files(tmp_path, {
        "conftest.py": "print('CONFTEST IMPORTED')\n",
        "test_crash.py": """
            import os, signal
            import pytest

            def test_0_crashes():
                os.kill(os.getpid(), signal.SIGSEGV)

            @pytest.mark.parametrize("n", range(5))
            def test_1_after(n):
                pass
            """,
    })
    report_path = tmp_path / "r.json"
    result = run_bulkhead("-n", "1", "--zygote", "on", "-s", "-p", "no:randomly", "--json",
                          str(report_path), cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    assert FALLBACK not in result.stdout
    assert "1 failed, 5 passed" in result.stdout, result.stdout
    # The replacement did not import the conftest again: it is a fork of the zygote.
    assert len(imported_lines(result.stdout)) == 1, result.stdout
    tests = {t["nodeid"].split("::")[1]: t for t in json.loads(report_path.read_text())["tests"]}
    crashed = tests["test_0_crashes"]
    assert crashed["outcome"] == "failed" and crashed["cause"] == "crash", crashed
    first_after = min(t["start"] for name, t in tests.items() if name != "test_0_crashes")
    gap = first_after - crashed["stop"]
    print("replacement: first test %.1f ms after the crash was recorded" % (gap * 1000))
    # A spawned replacement imports pytest and collects again (~0.4 s and more); a fork does not.
    assert 0 <= gap < 1.0, gap


def test_zygote_killed_mid_run_the_rest_is_spawned(tmp_path):
    marker = "zygote-%d-%d" % (os.getpid(), time.time_ns())
    suite = write_files(tmp_path, {
        "test_slow.py": """
            import time
            import pytest

            @pytest.mark.parametrize("n", range(12))
            def test_slow(n):
                time.sleep(0.5)
            """,
    })
    env = dict(os.environ, ZYGOTE_TEST_MARKER=marker)
    import subprocess
    command = [BULKHEAD, "run", "--python", "/usr/bin/python3", "--color", "no", "-n", "2",
               "--zygote", "on", "--json", str(tmp_path / "r.json")]
    process = subprocess.Popen(command, cwd=suite, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        zygote = []
        while not zygote and time.monotonic() < deadline:
            time.sleep(0.2)
            zygote = [pid for pid, cmdline in processes_with_env_marker(marker)
                      if _environ_has(pid, b"BULKHEAD_ZYGOTE=1")]
        assert zygote, "no zygote process found"
        time.sleep(1.0)  # workers are running tests
        os.kill(zygote[0], signal.SIGKILL)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert FALLBACK in out, out + err  # "the zygote ended", or the failed fork that says so
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["tests"]) == 12  # every test reported once
    outcomes = [test["outcome"] for test in report["tests"]]
    assert outcomes.count("passed") >= 10, out  # at most the two running ones crashed


def _environ_has(pid, needle):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


@pytest.mark.parametrize("zygote", ["on", "off"])
def test_home_is_writable_and_its_masks_hold_in_both_modes(zygote):
    # $HOME with masked secrets and the project under it. A forked worker's HOME used to be the
    # zygote's, read-only: the kernel refuses an overlay over a lower layer with (locked) mounts
    # under it, the masks and the project. Now it is writable as a spawned worker's, and the
    # masks hold in the worker and in the zygote (its conftest looks everywhere it can).
    root = pathlib.Path(tempfile.mkdtemp(prefix="bulkhead-home-", dir="/tmp"))
    try:
        home = root / "home"
        write_files(home, {".npmrc": "SECRET-NPM\n", ".ssh/id_rsa": "SECRET-SSH\n",
                           ".cache/keep": "kept\n"})
        suite = write_files(home / "proj", {
            "conftest.py": """
                import os, stat

                def secrets(*bases):
                    # Regular files only (/dev/zero never ends); not the zygote's spare procfs.
                    found = []
                    for base in bases:
                        for where, dirs, files in os.walk(base):
                            dirs[:] = [d for d in dirs if os.path.join(where, d) !=
                                       "/dev/.bulkhead-zygote/proc"]
                            for name in files:
                                path = os.path.join(where, name)
                                try:
                                    if not stat.S_ISREG(os.lstat(path).st_mode):
                                        continue
                                    with open(path, "rb") as f:
                                        if ("SEC" + "RET-").encode() in f.read():
                                            found.append(path)
                                except OSError:
                                    pass
                    return sorted(found)

                print("COLLECTION-SECRETS", secrets(os.path.expanduser("~"),
                                                    "/dev/.bulkhead-zygote"))
                """,
            "test_home.py": """
                import os, pathlib
                import pytest
                from conftest import secrets

                @pytest.mark.parametrize("n", range(4))
                def test_home(n):
                    home = pathlib.Path.home()
                    (home / ".cache" / ("w%d" % n)).write_text("x")
                    (home / ("new%d" % n)).write_text("x")
                    assert (home / ".cache" / "keep").read_text() == "kept\\n"
                    assert secrets(str(home), "/dev") == []
                    assert not os.path.exists("/dev/.bulkhead-zygote")
                    try:
                        assert os.listdir(home / ".ssh") == []
                    except PermissionError:
                        pass
                """,
        })
        # bulkhead's own cache (the interpreter probes, on the host) elsewhere: only what the
        # sandbox writes is checked against HOME below.
        env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(root / "cache")}
        result = run_bulkhead("-n", "2", "--zygote", zygote, "-s", "-p", "no:randomly",
                              "-p", "no:random_order", "-p", "no:cacheprovider", cwd=suite,
                              env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "4 passed" in result.stdout, result.stdout
        assert FALLBACK not in result.stdout
        assert "overlay" not in result.stdout + result.stderr, result.stdout + result.stderr
        seen = [line for line in result.stdout.splitlines() if "COLLECTION-SECRETS" in line]
        assert seen and all(line.endswith("COLLECTION-SECRETS []") for line in seen), seen
        # The host's HOME is as it was.
        assert sorted(p.name for p in home.iterdir()) == [".cache", ".npmrc", ".ssh", "proj"]
        assert sorted(p.name for p in (home / ".cache").iterdir()) == ["keep"]
        assert (home / ".npmrc").read_text() == "SECRET-NPM\n"
    finally:
        shutil.rmtree(root, ignore_errors=True)

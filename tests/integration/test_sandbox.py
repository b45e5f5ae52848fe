"""Isolation properties of `bulkhead exec`, checked from inside the sandbox as a hostile test
would. Every misbehaving payload is bounded even if the sandbox around it were broken."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import pytest

from helpers import BULKHEAD, PYTHON, bulkhead_cgroups, leaked_cgroups, run_exec, sandbox_python


@pytest.fixture(autouse=True)
def no_leftovers():
    mounts_before = open("/proc/self/mountinfo").read().count("\n")
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"
    assert open("/proc/self/mountinfo").read().count("\n") == mounts_before


def test_true_exits_zero_and_status_passes_through():
    assert run_exec(["/bin/true"]).returncode == 0
    assert run_exec(["sh", "-c", "exit 7"]).returncode == 7


def test_signal_death_is_128_plus_signal_and_named(tmp_path):
    result = sandbox_python("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert result.returncode == 128 + signal.SIGSEGV
    assert "SG: killed by SIGSEGV" in result.stderr


def test_command_not_found_is_127():
    result = run_exec(["no-such-command-bulkhead"])
    assert result.returncode == 127
    assert "cannot execute 'no-such-command-bulkhead'" in result.stderr


def test_two_sandboxes_bind_same_tcp_port_and_unix_socket_at_once(tmp_path):
    code = textwrap.dedent("""
        import socket, time
        tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        tcp.bind(("127.0.0.1", 8000)); tcp.listen()
        unix = socket.socket(socket.AF_UNIX); unix.bind("/tmp/bulkhead-test.sock"); unix.listen()
        time.sleep(1.5)
        print("bound")
    """)
    procs = [subprocess.Popen([BULKHEAD, "exec", "--", PYTHON, "-c", code], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == "bound"


def test_private_tmp_each_sandbox_sees_only_its_own(tmp_path):
    marker = f"/tmp/bulkhead-x-{uuid.uuid4().hex}"
    code = textwrap.dedent(f"""
        import os, sys, time
        assert not os.path.exists({marker!r}), "saw another sandbox's or the host's file"
        open({marker!r}, "w").write(sys.argv[1]); time.sleep(1)
        assert open({marker!r}).read() == sys.argv[1]
        print("ok")
    """)
    procs = [subprocess.Popen([BULKHEAD, "exec", "--", PYTHON, "-c", code, str(i)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "ok", err
    assert not os.path.exists(marker)


def test_writes_to_cwd_and_home_stay_in_the_sandbox(tmp_path):
    project = tmp_path / "project"
    home = tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (project / "existing.txt").write_text("original")
    result = run_exec(["sh", "-c", "echo changed > existing.txt && echo new > created.txt && "
                       "echo h > $HOME/dotfile && cat existing.txt"],
                      cwd=project, env={**os.environ, "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "changed"
    assert (project / "existing.txt").read_text() == "original"
    assert not (project / "created.txt").exists()
    assert not (home / "dotfile").exists()


def test_project_under_tmp_is_visible(tmp_path):
    # tmp_path lives under /tmp, which the sandbox replaces with a private tmpfs.
    assert str(tmp_path).startswith("/tmp/")
    (tmp_path / "code.py").write_text("print('visible')")
    result = run_exec([PYTHON, "code.py"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "visible"


def test_python_package_installed_under_home_still_imports(tmp_path):
    home = tmp_path / "home"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = home / ".local" / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "bulkhead_home_pkg.py").write_text("VALUE = 42\n")
    result = run_exec([PYTHON, "-c", "import bulkhead_home_pkg; print(bulkhead_home_pkg.VALUE)"],
                      cwd=tmp_path, env={**os.environ, "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_host_loopback_server_is_unreachable(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        code = textwrap.dedent(f"""
            import socket
            s = socket.socket(); s.settimeout(3)
            try:
                s.connect(("127.0.0.1", {port})); print("reached")
            except OSError as e:
                print("refused", e.errno)
        """)
        result = sandbox_python(code, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("refused")
    finally:
        server.close()


def test_hostname_is_the_sandbox_name():
    result = run_exec(["hostname"], extra=["--name", "gw7"])
    assert result.stdout.strip() == "gw7"


def test_leftover_processes_die_with_the_sandbox():
    token = f"{time.time() % 1000:.4f}"
    result = run_exec(["sh", "-c", f"sleep 3{token} & sleep 3{token} & echo started"])
    assert result.returncode == 0
    time.sleep(0.3)
    assert not _processes_with(f"3{token}")


def test_memory_hog_is_oom_killed_and_reported():
    result = sandbox_python("b = []\nfor _ in range(32): b.append(bytearray(64 << 20))",
                            extra=["--memory", "128M"])
    assert result.returncode == 121, result.stderr
    assert "OOM: memory limit 128.0 MiB" in result.stderr


def test_fork_loop_stops_at_the_pids_limit():
    code = textwrap.dedent("""
        import os, sys, time
        for i in range(500):
            try:
                if os.fork() == 0:
                    time.sleep(3); os._exit(0)
            except OSError as e:
                print("refused at", i, e.errno); sys.exit(3)
        print("never refused")
    """)
    result = sandbox_python(code, extra=["--pids", "32"])
    assert "refused at" in result.stdout
    assert result.returncode == 122
    assert "PIDS: pids limit 32 reached" in result.stderr


def test_open_fails_at_the_nofile_limit():
    code = textwrap.dedent("""
        files = []
        try:
            for _ in range(1000): files.append(open("/dev/null"))
        except OSError as e:
            print(len(files), e.errno)
    """)
    result = sandbox_python(code, extra=["--nofile", "64"])
    count, errno_value = result.stdout.split()
    assert int(count) < 64 and int(errno_value) == 24  # EMFILE


def test_dangerous_syscalls_fail_with_eperm():
    code = textwrap.dedent("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        def errno_of(rc):
            return ctypes.get_errno() if rc == -1 else 0
        results = {
            "mount": errno_of(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)),
            "ptrace": errno_of(libc.ptrace(16, os.getppid(), None, None)),   # PTRACE_ATTACH
            "bpf": errno_of(libc.syscall(321, 0, None, 0)),                  # x86_64 bpf
            "keyctl": errno_of(libc.syscall(250, 0, 0, 0, 0, 0)),            # x86_64 keyctl
            "unshare": errno_of(libc.unshare(0x40000000)),                    # CLONE_NEWNET
        }
        print(" ".join(f"{k}={v}" for k, v in results.items()))
    """)
    result = sandbox_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mount=1", "ptrace=1", "bpf=1", "keyctl=1", "unshare=1"]


# chown, dac_override, dac_read_search, fowner, fsetid, kill, setgid, setuid, setpcap (bits 0-8)
# and net_bind_service (10): root's capabilities over what it owns, inside its user namespace.
ROOT_FILE_CAPS = "00000000000005ff"


def _status_fields(extra=()):
    result = run_exec(["grep", "-E", "^(Uid|CapEff|CapPrm|CapBnd|CapInh|CapAmb|NoNewPrivs):",
                       "/proc/self/status"], extra=extra)
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(":\t") for line in result.stdout.strip().splitlines())
    fields["Uid"] = fields["Uid"].split()[1]  # effective
    return fields


@pytest.mark.skipif(os.geteuid() != 0, reason="the identity model of a root caller")
def test_root_payload_is_root_of_its_own_user_namespace():
    assert _status_fields() == {"Uid": "0", "CapEff": ROOT_FILE_CAPS, "CapPrm": ROOT_FILE_CAPS,
                                "CapBnd": ROOT_FILE_CAPS, "CapInh": "0000000000000000",
                                "CapAmb": "0000000000000000", "NoNewPrivs": "1"}
    # uid 0 inside is not the host's: the map shifts it to a high unused range.
    uid_map = run_exec(["cat", "/proc/self/uid_map"]).stdout.split()
    assert uid_map[0] == "0" and int(uid_map[1]) >= 65536 and uid_map[2] == "65536", uid_map


@pytest.mark.skipif(os.geteuid() != 0, reason="the identity model of a root caller")
def test_strict_payload_is_unprivileged_and_host_user_has_no_capabilities():
    fields = _status_fields(["--profile", "strict"])
    assert (fields["Uid"], fields["CapEff"], fields["CapBnd"], fields["NoNewPrivs"]) == \
        ("1000", "0000000000000000", "0000000000000000", "1")
    profile = os.path.join(tempfile.mkdtemp(), "host.json")
    with open(profile, "w") as f:
        f.write('{"extends": "default", "user": "host"}')
    fields = _status_fields(["--profile", profile])
    assert (fields["Uid"], fields["CapEff"], fields["CapBnd"]) == \
        ("0", "0000000000000000", "0000000000000000")
    assert run_exec(["cat", "/proc/self/uid_map"], extra=["--profile", profile]).stdout.split() \
        == ["0", "0", "4294967295"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the identity model of a root caller")
def test_root_payload_owns_what_the_sandbox_owns_and_nothing_of_the_host(tmp_path):
    # The project (root's, on the host) and the sandbox's /tmp: chown, chmod, utime work there;
    # the host's root-owned files show as nobody and stay out of reach.
    (tmp_path / "mine.txt").write_text("x")
    code = textwrap.dedent("""
        import os
        for path in ("mine.txt", "new.txt", "/tmp/t.txt"):
            open(path, "a").close()
            os.chown(path, 1234, 5678)
            os.chmod(path, 0o600)
            os.utime(path, (1000000000, 1000000000))
            st = os.stat(path)
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777, st.st_mtime) == \
                (1234, 5678, 0o600, 1000000000), (path, st)
        assert os.stat(".").st_uid == 0                 # the project: its host owner (root)
        assert os.stat("/etc/passwd").st_uid == 65534   # a host file: nobody
        try:
            os.chown("/etc/hostname", 0, 0)
        except OSError as e:
            print("chown host file:", e.errno)
    """)
    result = sandbox_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "chown host file: 30"  # EROFS
    assert (tmp_path / "mine.txt").stat().st_uid == 0    # the host's file is untouched


@pytest.mark.skipif(os.geteuid() != 0, reason="the identity model of a root caller")
def test_project_on_a_filesystem_without_idmapped_mounts_falls_back_to_host_root(tmp_path):
    # ramfs refuses idmapped mounts (so do tmpfs before 6.3, 9p and NFS). The project lives on
    # one, in a mount namespace of the test's own, 0700 and root's: the run must say it falls
    # back, and the payload must still read and change its project as plain pytest would.
    mnt = tmp_path / "ramfs"
    mnt.mkdir()
    script = textwrap.dedent(f"""
        set -e
        mount -t ramfs ramfs {mnt}
        mkdir -m 700 {mnt}/project && echo original > {mnt}/project/data.txt
        chmod 600 {mnt}/project/data.txt
        cd {mnt}/project
        {BULKHEAD} exec -- sh -c 'cat data.txt; echo changed > data.txt; cat data.txt; id -u;
            grep ^CapEff: /proc/self/status'
        echo host: $(cat data.txt)
    """)
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["original", "changed", "0", "CapEff:", "0000000000000000",
                                     "host:", "original"], result.stdout
    assert f"not isolated: idmapped mounts: {mnt}/project (ramfs) refuses them" in result.stderr
    assert "the host's uid 0 without capabilities" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the identity model of a root caller")
def test_doctor_names_the_identity_model():
    result = subprocess.run([BULKHEAD, "doctor"], capture_output=True, text=True, timeout=60)
    assert "payload identity" in result.stdout
    assert "root in its own user namespace" in result.stdout, result.stdout


def test_timeout_kills_the_sandbox():
    start = time.monotonic()
    result = run_exec(["sleep", "30"], extra=["--timeout", "1s"])
    assert result.returncode == 124
    assert "TO: wall time limit 1s" in result.stderr
    assert time.monotonic() - start < 10


def test_sigkill_of_supervisor_leaves_no_process(tmp_path):
    token = f"{time.time() % 1000:.4f}"
    proc = subprocess.Popen([BULKHEAD, "exec", "--", "sh", "-c",
                             f"sleep 4{token} & sleep 4{token}"], cwd=tmp_path)
    deadline = time.monotonic() + 10
    while not _processes_with(f"4{token}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(f"4{token}")
    proc.kill()
    proc.wait()
    time.sleep(0.3)
    assert not _processes_with(f"4{token}")
    # The killed run's cgroups are removed by the next start.
    run_exec(["/bin/true"])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to uid 65534")
def test_rootless_runs_and_reports_missing_cgroups():
    # A directory uid 65534 can reach (pytest's tmp_path is private to root).
    tmp_path = tempfile.mkdtemp(prefix="bulkhead-rootless-", dir="/tmp")
    os.chmod(tmp_path, 0o777)
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             BULKHEAD, "exec", "--", "sh", "-c", "id -u; hostname"],
                            cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    os.rmdir(tmp_path)
    if "not isolated: user namespace: refused" in result.stderr:
        pytest.skip("unprivileged user namespaces are blocked on this kernel")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["65534", "sandbox"]
    assert "not isolated: cgroups" in result.stderr


def test_bad_profile_names_file_and_json_path(tmp_path):
    profile = tmp_path / "bad.json"
    profile.write_text('{"limits": {"memory": true}}')
    result = run_exec(["/bin/true"], extra=["--profile", str(profile)])
    assert result.returncode == 125
    assert f"{profile}: $.limits.memory:" in result.stderr


def test_bad_option_value_is_named():
    result = run_exec(["/bin/true"], extra=["--memory", "lots"])
    assert result.returncode == 125
    assert "--memory: expected a size" in result.stderr


def test_doctor_explains_this_machine():
    result = subprocess.run([BULKHEAD, "doctor"], capture_output=True, text=True, timeout=60)
    assert "namespaces" in result.stdout and "cgroups" in result.stdout
    assert "sandbox runs /bin/true" in result.stdout
    assert result.returncode == 0, result.stdout


def _processes_with(token):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if token in cmdline and "sleep" in cmdline and "sh\0-c" not in cmdline:
            found.append(pid)
    return found


def _ignore_libc_reserved_signals():
    # What some CI harnesses pass on: signals 32 and 33 ignored (libc's signal() refuses them,
    # so only the raw rt_sigaction, x86_64 syscall 13, sets them).
    import ctypes

    class KernelSigaction(ctypes.Structure):
        _fields_ = [("handler", ctypes.c_void_p), ("flags", ctypes.c_ulong),
                    ("restorer", ctypes.c_void_p), ("mask", ctypes.c_ulong)]

    libc = ctypes.CDLL(None)
    for sig in (32, 33):
        libc.syscall(13, sig, ctypes.byref(KernelSigaction(1, 0, None, 0)), None, 8)


def test_payload_starts_with_no_blocked_or_ignored_signals():
    # The supervisor blocks signals for its signalfd; a shell's `&` ignores SIGINT; a CI
    # harness may ignore libc's reserved signals. None may leak into the sandbox, or tests that
    # signal their own subprocesses hang.
    result = subprocess.run(["sh", "-c", f"{BULKHEAD} exec -- grep -E '^Sig(Blk|Ign):' "
                             "/proc/self/status & wait"], capture_output=True, text=True,
                            timeout=60, cwd="/", preexec_fn=_ignore_libc_reserved_signals)
    fields = dict(line.split(":\t") for line in result.stdout.strip().splitlines())
    assert fields == {"SigBlk": "0000000000000000", "SigIgn": "0000000000000000"}, result


def test_sigterm_to_bulkhead_is_forwarded_to_the_command(tmp_path):
    proc = subprocess.Popen([BULKHEAD, "exec", "--", PYTHON, "-c",
                             "import time; print('up', flush=True); time.sleep(60)"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SG: killed by SIGTERM" in err


def test_git_works_from_a_project_subdirectory_and_a_worktree(tmp_path):
    # git walks up to the checkout's root and refuses directories the user does not own: the
    # checkout (not just pytest's rootdir) is the overlay, and a worktree's repository is shown
    # with its owner.
    def git(*args, cwd):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                       check=True, capture_output=True, timeout=60)
    repo = tmp_path / "repo"
    (repo / "python").mkdir(parents=True)
    git("init", "-q", cwd=repo)
    (repo / "python" / "a.txt").write_text("a")
    git("add", ".", cwd=repo)
    git("commit", "-qm", "first", cwd=repo)
    git("worktree", "add", "-q", str(tmp_path / "wt"), cwd=repo)
    for cwd in (repo / "python", tmp_path / "wt" / "python"):
        result = run_exec(["sh", "-c", "echo b > b.txt && git status --short && git log --format=%s"],
                          cwd=cwd)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["??", "b.txt", "first"], result.stdout
        assert not (cwd / "b.txt").exists()

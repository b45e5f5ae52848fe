"""Escape attempts from inside `bulkhead exec`, as root and rootless (see conftest.py): host
unix sockets and loopback, secrets, writes outside the sandbox's own filesystems, privileged
system calls on every ABI, other processes, cgroups and limits, setuid and file-capability
binaries, memory through tmpfs. Each attempt must fail; each result is a row of the table."""
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest


def test_host_unix_socket_in_run(inside, check, host_secrets):
    check("connect to a host unix socket in /run", "ENOENT",
          inside("connect-unix", host_secrets["run_socket"]))


def test_host_unix_socket_in_var_lib(inside, check, host_secrets):
    check("connect to a host unix socket in /var/lib (mode 0777)", "EACCES",
          inside("connect-unix", host_secrets["var_socket"]))


def test_host_unix_socket_next_to_the_project(inside, check, stage):
    path = stage / f"project-{os.getpid()}.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    os.chmod(path, 0o777)
    server.listen()
    try:
        got = inside("connect-unix", str(path))
    finally:
        server.close()
        path.unlink()
    check("connect to a host unix socket next to the project", "ECONNREFUSED", got)


def test_host_abstract_unix_socket(inside, check, host_secrets):
    check("connect to a host abstract unix socket", "ECONNREFUSED",
          inside("connect-unix", host_secrets["abstract_socket"]))


def test_host_loopback(inside, check, host_secrets):
    check("connect to a TCP server on the host's 127.0.0.1", "ECONNREFUSED",
          inside("connect-tcp", "127.0.0.1", host_secrets["tcp_port"]))


def test_read_etc_shadow(inside, check):
    check("read /etc/shadow", "EACCES", inside("read", "/etc/shadow"))


def test_read_root_only_file(inside, check, host_secrets):
    check("read a root-only (0600) host file", "EACCES", inside("read", host_secrets["secret"]))


def test_read_ssh_key_in_home(inside, check, mode):
    home = Path(tempfile.mkdtemp(prefix="bulkhead-escape-home-"))
    try:
        (home / ".ssh").mkdir()
        key = home / ".ssh" / "id_ed25519"
        key.write_text("PRIVATE KEY\n")
        os.chmod(key, 0o600)
        os.chmod(home / ".ssh", 0o700)
        if mode == "rootless":  # the caller's own key: only the mask keeps it out
            for path in (home, home / ".ssh", key):
                os.chown(path, 65534, 65534)
        got = inside("read", str(key), env={**os.environ, "HOME": str(home)})
    finally:
        shutil.rmtree(home)
    check("read $HOME/.ssh/id_ed25519 (the caller's own)", "EACCES", got)


def test_read_supervisor_environment(inside, check):
    check("read /proc/1/environ (init: the supervisor's environment)", "EACCES",
          inside("read", "/proc/1/environ"))


@pytest.mark.parametrize("target", ["/etc/bulkhead-escape", "/usr/bin/bulkhead-escape"])
def test_write_host_tree(inside, check, target):
    got = inside("write", target)
    if os.path.exists(target):  # a broken sandbox: leave nothing behind
        os.unlink(target)
    check(f"write {target}", "EROFS", got)


def test_write_next_to_host_files(inside, check, host_secrets):
    check("write a new file in a host directory (/var/lib/...)", "EROFS",
          inside("write", host_secrets["dir"] + "/new"))


def test_chmod_host_file(inside, check):
    check("chmod /etc/passwd", "EROFS", inside("chmod", "/etc/passwd"))


def test_write_host_sysctl(inside, check):
    check("write a host sysctl (/proc/sys/kernel/domainname)", "EROFS", inside("sysctl-write"))


def test_make_device_node(inside, check):
    check("mknod a block device (the host's disk)", "EPERM", inside("mknod-device", "/tmp/disk"))


def test_privileged_syscalls(inside, check):
    results = json.loads(inside("syscalls"))
    failures = []
    for name, got in results.items():
        try:
            check(name, "EPERM", got)
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, failures


def test_clone3_namespace(inside, check):
    # clone3 hides its flags from seccomp: answered ENOSYS, so libc falls back to clone().
    check("clone3(CLONE_NEWUSER)", "ENOSYS", inside("clone3"))


def test_32bit_abis(inside, check, stage):
    if not (stage / "abi_probe").exists():
        pytest.fail("escape_abi_probe was not built (cmake target escape_abi_probe)")
    results = json.loads(inside(program=["./abi_probe"], raw=True))
    host = None
    for name, got in results.items():
        expected = "EPERM"
        if name.startswith("i386"):
            expected = ("EPERM", "no i386 ABI")
            if got == "no-abi":
                # No IA-32 emulation in this kernel: nothing to filter, if the host has none too.
                if host is None:
                    host = json.loads(subprocess.run(
                        [str(stage / "abi_probe")], capture_output=True, text=True, timeout=30,
                        check=True).stdout)
                got = ("no i386 ABI" if host[name] == "no-abi"
                       else f"none inside, {host[name]} outside")
        check(f"{name} (32-bit ABI)", expected, got)


def test_signal_host_process(inside, check):
    check("signal a host process (kill pid, 0)", "ESRCH", inside("signal", str(os.getpid())))


def test_pidfd_host_process(inside, check):
    check("pidfd_open a host process", "ESRCH", inside("pidfd-open", str(os.getpid())))


def test_move_out_of_cgroup(inside, check):
    check("move itself to a cgroup root (cgroup.procs)", "EROFS", inside("cgroup-move"))


def test_raise_cgroup_limits(inside, check):
    check("raise its memory and pids limits (cgroup files)", "EROFS", inside("cgroup-raise"))


def test_raise_rlimit(inside, check):
    check("raise RLIMIT_NOFILE above its hard limit", "EPERM", inside("rlimit-raise"))


def _file_capability(cap):
    # struct vfs_cap_data, revision 2: effective flag, permitted and inheritable words.
    return struct.pack("<IIIII", 0x02000000 | 0x000001, 1 << cap, 0, 0, 0)


@pytest.fixture(scope="module")
def privileged_binaries(host_secrets):
    """/bin/cat copies: setuid root, and with CAP_SYS_ADMIN as a file capability."""
    directory = Path(host_secrets["dir"])
    suid = directory / "suid-cat"
    shutil.copy2("/bin/cat", suid)
    os.chmod(suid, 0o4755)
    fcap = directory / "fcap-cat"
    shutil.copy2("/bin/cat", fcap)
    os.chmod(fcap, 0o755)
    os.setxattr(fcap, "security.capability", _file_capability(21))  # CAP_SYS_ADMIN
    return {"setuid-root": str(suid), "file-capability": str(fcap)}


@pytest.mark.parametrize("kind", ["setuid-root", "file-capability"])
def test_regain_privileges_by_exec(inside, check, privileged_binaries, kind):
    own = _privileges(inside(program=["/bin/cat", "/proc/self/status"], raw=True))
    after = _privileges(inside(program=[privileged_binaries[kind], "/proc/self/status"], raw=True))
    got = "no gain" if after == own else f"{own} -> {after}"
    check(f"regain privileges through a {kind} binary", "no gain", got)


def _privileges(status):
    """uids, gids and capability sets from /proc/<pid>/status text."""
    keep = ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {key: " ".join(fields[key].split()) for key in keep}


@pytest.mark.parametrize("where", ["/tmp", "/dev/shm", "project"])
def test_fill_memory_through_tmpfs(inside, check, where):
    path = "fill.bin" if where == "project" else f"{where}/fill.bin"
    got = inside("fill", path, "1024", extra=["--memory", "256M"], timeout=120)
    check(f"fill {where} past the memory limit (256M)", ("ENOSPC", "OOM-killed"), got)

"""Fidelity properties, asserted from inside: the same module runs under plain pytest and under
`bulkhead run`, as root and rootless, and must pass (or skip for the stated reason) everywhere.
Files are made in the project directory (an overlay inside bulkhead) and in /tmp (a tmpfs)."""
import errno
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

ROOT = os.geteuid() == 0
IN_BULKHEAD = bool(os.environ.get("BULKHEAD_WORKER"))
MTIME = 1_000_000_000


@pytest.fixture(params=["project", "tmp"])
def place(request):
    directory = tempfile.mkdtemp(dir=os.getcwd() if request.param == "project" else "/tmp")
    yield directory
    shutil.rmtree(directory)


def make_file(directory, name="f.txt"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("data\n")
    return path


def test_chown_chmod_utime(place):
    path = make_file(place)
    # root gives files away, as tarfile, shutil.chown and installers do; others keep theirs.
    uid, gid = (1234, 5678) if ROOT else (os.getuid(), os.getgid())
    os.chown(path, uid, gid)
    os.chmod(path, 0o640)
    os.utime(path, (MTIME, MTIME))
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777, st.st_mtime) == (uid, gid, 0o640, MTIME)
    if not ROOT:  # giving it away is refused (EINVAL inside bulkhead: uid 0 is not mapped)
        with pytest.raises(OSError) as refused:
            os.chown(path, 0, 0)
        assert refused.value.errno in ((errno.EPERM, errno.EINVAL) if IN_BULKHEAD
                                       else (errno.EPERM,))


def test_tar_extraction_keeps_mode_mtime_and_owner(place):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, kind, mode in (("dir", tarfile.DIRTYPE, 0o700), ("dir/file", tarfile.REGTYPE,
                                                                     0o751)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, MTIME
            info.uid, info.gid, info.uname, info.gname = 1234, 5678, "", ""
            data = b"content" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as archive:
        archive.extractall(place)
    for name, mode in (("dir/file", 0o751), ("dir", 0o700)):
        st = os.stat(os.path.join(place, name))
        owner = (1234, 5678) if ROOT else (os.getuid(), os.getgid())
        assert (st.st_mode & 0o7777, st.st_mtime, (st.st_uid, st.st_gid)) == (mode, MTIME, owner)


@pytest.mark.parametrize("where", [".", "/tmp", "/dev/shm", "~"])
def test_disk_usage_has_a_size(where):
    usage = shutil.disk_usage(os.path.expanduser(where))
    assert usage.total > 0 and 0 < usage.free <= usage.total, usage


def kernel_at_least(major, minor):
    numbers = platform.release().split("-")[0].split(".")
    return (int(numbers[0]), int(numbers[1])) >= (major, minor)


def test_user_extended_attributes(place):
    path = make_file(place)
    try:
        os.setxattr(path, "user.bulkhead", b"value")
    except OSError as e:
        # The sandbox's /tmp and overlay uppers are tmpfs: user.* there needs Linux 6.6.
        if IN_BULKHEAD and not kernel_at_least(6, 6):
            pytest.skip(f"tmpfs has user extended attributes from Linux 6.6 ({e})")
        raise
    assert os.getxattr(path, "user.bulkhead") == b"value"
    assert "user.bulkhead" in os.listxattr(path)


@pytest.mark.parametrize("what", ["created", "checked out"])
def test_scandir_inode_is_stat_inode(place, what):
    if what == "created":
        make_file(place)
        os.mkdir(os.path.join(place, "sub"))
        directory = place
    else:  # the project's own files: the overlay's lower layer inside bulkhead
        directory = os.path.dirname(os.path.abspath(__file__))
    entries = list(os.scandir(directory))
    assert entries
    for entry in entries:
        st = os.stat(entry.path, follow_symlinks=False)
        assert (entry.inode(), entry.is_dir()) == (st.st_ino, os.path.isdir(entry.path)), entry


def test_closerange_over_a_free_range():
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    for candidate in range(fd, fd + 32):
        with pytest.raises(OSError):
            os.fstat(candidate)
    os.closerange(fd, fd + 32)


def test_inherited_descriptors_stay_out_of_the_way():
    """bulkhead's own descriptors in a worker sit at 200 and above, close on exec: a child
    process sees exactly what it would under plain pytest."""
    own = [int(fd) for fd in os.listdir("/proc/self/fd")]
    high = [fd for fd in own if fd >= 100 and os.path.exists(f"/proc/self/fd/{fd}")]
    assert len(high) <= 6, high  # 200-202, the sandbox's two counters, faulthandler's stderr
    for fd in high:
        assert fd >= 200 and not os.get_inheritable(fd), fd
    child = subprocess.run([sys.executable, "-c", "import os; print(os.listdir('/proc/self/fd'))"],
                           close_fds=False, capture_output=True, text=True, check=True)
    assert all(int(fd) < 100 for fd in eval(child.stdout)), child.stdout

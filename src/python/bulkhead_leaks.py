"""Leak checks per test (`--leaks warn|fail|off`): what a test left behind in its sandbox.

After each test's teardown the worker compares the sandbox with how the previous test left it
(one snapshot per test: the last one's is this one's baseline) and names what is new and still
there: processes, threads, files in /tmp and /dev/shm, listening sockets, os.environ entries,
open file descriptors. What a fixture of a wider scope (module, session...) made during its
setup is that fixture's, not the test's. Threads and processes get a short grace to end.

Each leak becomes a `bulkhead_leaked` user property on the test's teardown report (JUnit shows
it as a property, the supervisor as a LEAKED line); with `fail`, the teardown report fails too.
"""

import os
import threading
import time

import pytest

_PROPERTY = "bulkhead_leaked"
_TMP_DIRS = ("/tmp", "/dev/shm")
_GRACE_S = 0.2  # how long a new thread or process may take to end on its own
_TCP_LISTEN = "0A"
_UNIX_ACCEPTCON = 0x10000


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _read(path):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return b""


class _Snapshot:
    """What a test can leave behind: names and numbers only. Each kind is listed again only
    when a cheap probe says it may have changed since `previous` (a test usually changes
    nothing): the lowest free fd, the last pid our pid namespace allocated (threads take pids
    too), the temp directories' mtime and size."""

    __slots__ = ("fds", "lowest_free", "last_pid", "tids", "pids", "stamps", "files", "env")

    def __init__(self, check, previous):
        p = previous
        lowest = _lowest_free_fd(check.probe_fd)
        if p is not None and lowest is not None and lowest == p.lowest_free:
            self.fds, self.lowest_free = p.fds, lowest
        else:
            self.fds, self.lowest_free = _open_fds(check.probe_fd)
        self.last_pid = check.last_pid()
        same_pids = p is not None and self.last_pid is not None and self.last_pid == p.last_pid
        if same_pids and check.sandbox_pids:
            self.tids, self.pids = p.tids, p.pids
        else:
            self.tids = set(_listdir("/proc/self/task"))
            self.pids = _processes(check.sandbox_pids)
        self.stamps = tuple(_dir_stamp(d) for d in _TMP_DIRS)
        if p is not None and self.stamps == p.stamps:
            self.files = p.files
        else:
            # pytest's own base for tmp_path (pytest-of-<user>, --basetemp) is made on first use.
            self.files = {
                (d, n)
                for d in _TMP_DIRS
                for n in _listdir(d)
                if not n.startswith("pytest-of-") and (d, n) != check.pytest_temp
            }
        self.env = dict(os.environ._data)  # bytes to bytes: a C-level copy
        self.env.pop(b"PYTEST_CURRENT_TEST", None)  # pytest's own, set during each test

    def keys(self):
        return (
            {("fd", fd) for fd in self.fds}
            | {("thread", tid) for tid in self.tids}
            | {("process", pid) for pid in self.pids}
            | {("file", entry) for entry in self.files}
        )


def _dir_stamp(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _lowest_free_fd(probe_fd):
    """The number the next open() gets (a duplicate of `probe_fd`, closed at once), or None."""
    try:
        fd = os.dup(probe_fd)
    except OSError:
        return None
    os.close(fd)
    return fd


def _open_fds(probe_fd):
    """Our open fds' numbers, without the one the listing itself opened (the lowest free
    number), and that number."""
    lowest = _lowest_free_fd(probe_fd)
    names = set(_listdir("/proc/self/fd"))
    names.discard(str(lowest))
    return names, lowest


def _processes(sandbox_pids):
    """Process ids other than ours: every process of the sandbox's pid namespace when we are its
    init's child, else our descendants (no pid namespace of our own)."""
    me = os.getpid()
    if sandbox_pids:
        return {p for p in _listdir("/proc") if p.isdigit() and p not in ("1", str(me))}
    found, todo = set(), [str(me)]
    while todo:
        pid = todo.pop()
        for tid in _listdir("/proc/%s/task" % pid):
            for child in _read("/proc/%s/task/%s/children" % (pid, tid)).split():
                child = child.decode()
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _listening():
    """Listening sockets of this network namespace: {inode: "tcp 127.0.0.1:8000"}."""
    found = {}
    for name in ("tcp", "tcp6"):
        for row in _read("/proc/net/" + name).splitlines()[1:]:
            fields = row.split()
            if len(fields) > 9 and fields[3] == _TCP_LISTEN.encode():
                found[fields[9].decode()] = "%s %s" % (name, _address(fields[1].decode()))
    for row in _read("/proc/net/unix").splitlines()[1:]:
        fields = row.split()
        if len(fields) >= 7 and int(fields[3], 16) & _UNIX_ACCEPTCON:
            path = fields[7].decode("utf-8", "replace") if len(fields) > 7 else "(unnamed)"
            found[fields[6].decode()] = "unix " + path
    return found


def _address(text):
    """"0100007F:1F40" -> "127.0.0.1:8000" (IPv6 too: four little-endian words)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return "%s:%d" % (".".join(str(b) for b in words), int(port, 16))
    import ipaddress

    return "[%s]:%d" % (ipaddress.IPv6Address(words), int(port, 16))


def _socket_inode(target):
    return target[len("socket:[") : -1] if target.startswith("socket:[") else None


class LeakCheck:
    """The per-test check, registered by the worker plugin when --leaks is not off."""

    def __init__(self, mode, basetemp):
        self.mode = mode
        self.pytest_temp = None  # --basetemp's entry in a temp dir, pytest's own
        if basetemp:
            parts = os.path.abspath(str(basetemp)).split(os.sep)
            if len(parts) > 2 and os.sep.join(parts[:2]) in _TMP_DIRS:
                self.pytest_temp = (os.sep.join(parts[:2]), parts[2])
            elif len(parts) > 3 and os.sep.join(parts[:3]) in _TMP_DIRS:
                self.pytest_temp = (os.sep.join(parts[:3]), parts[3])
        self.sandbox_pids = os.getppid() == 1  # our parent is the sandbox's init
        # /proc/loadavg, kept open from the first test on (part of the baseline; not before:
        # a zygote forks no worker from a process with files opened during collection): its
        # last field is the last pid our pid namespace allocated; also what the lowest free fd
        # is probed with (dup).
        self.probe_fd = -1
        self._last = None  # the sandbox as the previous test left it
        self._owned = set()  # keys made by wider-scoped fixtures during this test

    def last_pid(self):
        try:
            return os.pread(self.probe_fd, 128, 0).rsplit(None, 1)[-1:] or None
        except OSError:  # a test closed it: probe no more
            return None

    def _snapshot(self, previous=None):
        return _Snapshot(self, previous)

    # Plain hooks where they suffice (a hook wrapper costs more on every test).
    def pytest_runtest_logstart(self, nodeid, location):
        if self._last is None:  # the first test: what pytest and the plugins hold is a baseline
            self.probe_fd = os.open("/proc/loadavg", os.O_RDONLY | os.O_CLOEXEC)
            self._last = self._snapshot()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        if fixturedef.scope == "function" or self._last is None or _torn_down_with_the_test(request):
            yield
            return
        before = self._snapshot(self._last)
        yield
        self._owned |= self._snapshot(before).keys() - before.keys()

    @pytest.hookimpl(tryfirst=True)  # before any plugin (and the worker) sees the report
    def pytest_runtest_logreport(self, report):
        if report.when != "teardown" or self._last is None:
            return
        leaks = self._leaks()
        self._owned = set()
        if not leaks:
            return
        for text in leaks:
            report.user_properties.append((_PROPERTY, text))
        if self.mode == "fail" and report.outcome != "failed":
            report.outcome = "failed"
            report.longrepr = "bulkhead: LEAKED (--leaks fail): " + "; ".join(leaks)

    def _leaks(self):
        before = self._last
        now = self._snapshot(before)
        if (
            now.fds is before.fds
            and now.tids is before.tids
            and now.files is before.files
            and now.env == before.env
        ):  # every probe said unchanged: the common case, decided without listing anything
            self._last = now
            return []
        deadline = time.monotonic() + _GRACE_S
        while (
            self._new(now.tids, before.tids, "thread") or self._new(now.pids, before.pids, "process")
        ) and time.monotonic() < deadline:
            time.sleep(0.01)
            now = self._snapshot()  # listed afresh: an ended thread takes no new pid
        self._last = now
        leaks = []
        fds = self._new(now.fds, before.fds, "fd")
        pids = self._new(now.pids, before.pids, "process")
        targets = {}
        for fd in sorted(fds, key=int):
            try:
                targets[fd] = os.readlink("/proc/self/fd/" + fd)
            except OSError:  # closed since (the listing's own fd)
                pass
        listening = {}
        if pids or any(_socket_inode(t) for t in targets.values()):
            listening = _listening()
        for pid in sorted(pids, key=int):
            leaks.append("process %s" % _describe_process(pid))
            for fd in _listdir("/proc/%s/fd" % pid):
                try:
                    inode = _socket_inode(os.readlink("/proc/%s/fd/%s" % (pid, fd)))
                except OSError:
                    continue
                if inode in listening:
                    leaks.append("listening socket %s (process %s)" % (listening.pop(inode), pid))
        names = {t.native_id: t.name for t in threading.enumerate()}
        for tid in sorted(self._new(now.tids, before.tids, "thread"), key=int):
            name = names.get(int(tid))
            if name is None:
                name = _read("/proc/self/task/%s/comm" % tid).decode("utf-8", "replace").strip()
                leaks.append("native thread %s (%s)" % (tid, name))
            else:
                leaks.append("thread %r (%s)" % (name, tid))
        for fd, target in targets.items():
            inode = _socket_inode(target)
            if inode is not None and inode in listening:
                leaks.append("listening socket %s (fd %s)" % (listening.pop(inode), fd))
            else:
                leaks.append("fd %s (%s)" % (fd, target))
        for directory, name in sorted(now.files - before.files):
            if ("file", (directory, name)) not in self._owned:
                leaks.append("file %s/%s" % (directory, name))
        leaks.extend(_env_changes(before.env, now.env))
        return leaks

    def _new(self, now, before, kind):
        return {key for key in now - before if (kind, key) not in self._owned}


def _torn_down_with_the_test(request):
    """Whether a wider-scoped fixture is finalized with this test all the same: a class-scoped
    one (pytest-django's autouse `_django_setup_unittest`) outside a class falls back to the
    test itself. What it makes is gone by the test's teardown, so no snapshot pair is needed."""
    item = getattr(request, "_pyfuncitem", None)
    return item is not None and request.scope == "class" and getattr(item, "cls", 1) is None


def _describe_process(pid):
    cmdline = _read("/proc/%s/cmdline" % pid).replace(b"\0", b" ").strip()
    stat = _read("/proc/%s/stat" % pid)
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] if stat else b""
    text = "%s `%s`" % (pid, cmdline.decode("utf-8", "replace")[:120])
    if state == b"Z":
        comm = stat[stat.find(b"(") + 1 : stat.rfind(b")")].decode("utf-8", "replace")
        text = "%s (%s, exited, not waited for)" % (pid, comm)
    return text


def _env_changes(before, now):
    if before == now:
        return []
    decode = os.fsdecode
    changes = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if old is None:
            changes.append("os.environ[%r] set" % decode(key))
        elif new is None:
            changes.append("os.environ[%r] removed" % decode(key))
        else:
            changes.append("os.environ[%r] changed" % decode(key))
    return changes


def register(config, mode):
    if mode in ("warn", "fail"):
        check = LeakCheck(mode, getattr(config.option, "basetemp", None))
        config.pluginmanager.register(check, "bulkhead_leaks")

"""Escape attempts, run INSIDE a sandbox: `python3 attempts.py NAME [ARG...]` prints one JSON
object {"got": ...} naming what happened: an errno name ("EPERM") when the attempt failed, or
what it achieved when it did not ("read 42 bytes", "connected", "ok").

Every attempt is harmless even if the sandbox around it were broken: system calls that could
change the host are made with arguments the kernel would refuse anyway (a wrong magic number,
a missing path, a bad fd), so only the errno tells whether the sandbox or the kernel said no.
x86_64 system call numbers (the CI machine's architecture)."""
import ctypes
import errno
import json
import os
import socket
import sys

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long

ATTEMPTS = {}


def attempt(name):
    def register(function):
        ATTEMPTS[name] = function
        return function
    return register


def errno_name(number):
    return errno.errorcode.get(number, str(number))


def syscall(number, *args):
    """Raw syscall: "ok" (or the value) when it worked, else the errno name."""
    ctypes.set_errno(0)
    result = LIBC.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a
                                                   for a in args])
    if result == -1:
        return errno_name(ctypes.get_errno())
    return "ok"


def os_error(function, *args):
    try:
        result = function(*args)
    except OSError as e:
        return errno_name(e.errno)
    return "ok" if result is None else f"ok: {result!r}"[:80]


# -- files ---------------------------------------------------------------------------------------

@attempt("read")
def read_file(path):
    try:
        with open(path, "rb") as f:
            return f"read {len(f.read(4096))} bytes"
    except OSError as e:
        return errno_name(e.errno)


@attempt("list")
def list_dir(path):
    return os_error(lambda: f"{len(os.listdir(path))} entries")


@attempt("write")
def write_file(path):
    try:
        with open(path, "wb") as f:
            f.write(b"escaped")
        return "wrote"
    except OSError as e:
        return errno_name(e.errno)


@attempt("chmod")
def chmod(path):
    # To the mode it has: a broken sandbox would change nothing.
    return os_error(os.chmod, path, os.stat(path).st_mode & 0o7777)


@attempt("mknod-device")
def mknod_device(path):
    # /dev/vda's numbers; a device node would open the host's disk. Removed if it was made.
    got = os_error(os.mknod, path, 0o600 | 0o060000, os.makedev(254, 0))
    if got == "ok":
        os.unlink(path)
    return got


# -- sockets -------------------------------------------------------------------------------------

def connect(family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(address)
        return "connected"
    except OSError as e:
        return errno_name(e.errno) if e.errno else type(e).__name__
    finally:
        s.close()


@attempt("connect-unix")
def connect_unix(path):
    return connect(socket.AF_UNIX, "\0" + path[1:] if path.startswith("@") else path)


@attempt("connect-tcp")
def connect_tcp(host, port):
    return connect(socket.AF_INET, (host, int(port)))


# -- processes, signals, cgroups, limits --------------------------------------------------------

@attempt("signal")
def signal_pid(pid):
    return os_error(os.kill, int(pid), 0)


@attempt("pidfd-open")
def pidfd_open(pid):
    return syscall(434, int(pid), 0)


@attempt("cgroup-move")
def cgroup_move():
    """Open the cgroup.procs files of the hierarchies we can see for writing. What would be
    written is no pid at all: a broken sandbox would refuse it (EINVAL), never move us."""
    results = set()
    for root, _dirs, files in os.walk("/sys/fs/cgroup"):
        if "cgroup.procs" in files:
            results.add(write_text(os.path.join(root, "cgroup.procs"), "not-a-pid"))
        if root.count("/") > 4:
            break
    return ",".join(sorted(results)) or "no cgroup.procs found"


@attempt("cgroup-raise")
def cgroup_raise():
    """Open our own memory and pids limit files for writing, wherever our cgroup shows up."""
    results = set()
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.strip().split(":", 2)
        # Values the kernel refuses: a broken sandbox would still keep its limits.
        for name, value in (("memory.limit_in_bytes", "not-a-size"), ("memory.max", "not-a-size"),
                            ("pids.max", "not-a-number")):
            for base in ("/sys/fs/cgroup", f"/sys/fs/cgroup/{controllers or ''}"):
                target = os.path.normpath(f"{base}/{path}/{name}")
                if os.path.exists(target):
                    results.add(write_text(target, value))
    return ",".join(sorted(results)) or "no limit files found"


def write_text(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
        return "wrote"
    except OSError as e:
        return errno_name(e.errno)


@attempt("rlimit-raise")
def rlimit_raise():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = (ctypes.c_ulong * 2)(hard + 1, hard + 1)
    return syscall(160, resource.RLIMIT_NOFILE, limit)  # setrlimit


@attempt("sysctl-write")
def sysctl_write():
    return write_text("/proc/sys/kernel/domainname", "escaped")


@attempt("status")
def status():
    """The identity and privileges of this process, as the kernel sees them."""
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("Uid", "CapEff", "CapBnd", "NoNewPrivs"):
            fields[key] = value.split()[0] if key == "Uid" else value.strip()
    return " ".join(f"{k}={v}" for k, v in sorted(fields.items()))


@attempt("fill")
def fill(path, megabytes):
    """Writes up to `megabytes` MiB to `path`: ENOSPC (or an OOM kill) is the containment."""
    chunk = b"x" * (1 << 20)
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(int(megabytes)):
                f.write(chunk)
                f.flush()
                written += 1
        return f"wrote {written} MiB"
    except OSError as e:
        return errno_name(e.errno)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


# -- system calls: each with arguments the kernel itself would refuse ------------------------------

SYSCALLS = {
    # name: (x86_64 number, harmless arguments)
    "mount": (165, b"none", b"/nonexistent", b"bulkhead-no-such-fs", 0, None),
    "umount2": (166, b"/nonexistent", 0),
    "pivot_root": (155, b"/nonexistent", b"/nonexistent"),
    "chroot": (161, b"/nonexistent"),
    "setns": (308, -1, 0),
    "unshare": (272, 0x10000000),                        # CLONE_NEWUSER: needs no privilege
    "clone(CLONE_NEWUSER)": (56, 0x10000000 | 17, 0, 0, 0, 0),  # would fork: see below
    "ptrace": (101, 0, 0, 0, 0),                         # PTRACE_TRACEME
    "process_vm_readv": (310, "self", 0, 0, 0, 0, 0),    # our own memory, nothing to read
    "bpf": (321, 5, 0, 0),                               # BPF_PROG_LOAD, NULL attr
    "perf_event_open": (298, 0, 0, -1, -1, 0),           # NULL attr
    "keyctl": (250, 9999, 0, 0, 0, 0),                   # no such operation
    "add_key": (248, b"user", 0, 0, 0, 0),               # NULL description
    "init_module": (175, 0, 0, b""),                     # NULL image
    "finit_module": (313, -1, b"", 0),
    "kexec_load": (246, 0, 0, 0, 0xFFFFFFFF),            # no segments, bad flags
    "reboot": (169, 0, 0, 0, 0),                         # wrong magic
    "swapon": (167, b"/nonexistent", 0),
    "settimeofday": (164, 0, 0),                         # NULL, NULL: changes nothing
    "clock_settime": (227, 0xFFFF, 0),                   # no such clock
    "io_uring_setup": (425, 0, 0),                       # zero entries, NULL params
    "io_uring_enter": (426, -1, 0, 0, 0, 0, 0),
    "io_uring_register": (427, -1, 0, 0, 0),
    "userfaultfd": (323, 0xFFFF),                        # bad flags
    "open_by_handle_at": (304, -1, 0, 0),
    "name_to_handle_at": (303, -1, b"", 0, 0, 0),
    "fsopen": (430, b"bulkhead-no-such-fs", 0),
    "fsconfig": (431, -1, 0, 0, 0, 0),
    "fsmount": (432, -1, 0, 0),
    "fspick": (433, -1, b"/nonexistent", 0),
    "move_mount": (429, -1, b"", -1, b"", 0),
    "open_tree": (428, -1, b"/nonexistent", 0),
    "mount_setattr": (442, -1, b"", 0, 0, 0),
}


def fork_by(number, *args):
    """A fork through a raw clone call: if it worked, the child leaves at once."""
    ctypes.set_errno(0)
    pid = LIBC.syscall(ctypes.c_long(number), *args)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
        return "ok"
    return errno_name(ctypes.get_errno())


@attempt("syscall")
def one_syscall(name):
    number, *args = SYSCALLS[name]
    if name == "clone(CLONE_NEWUSER)":
        return fork_by(number, *[ctypes.c_long(a) for a in args])
    return syscall(number, *[os.getpid() if a == "self" else a for a in args])


@attempt("syscalls")
def all_syscalls():
    return json.dumps({name: one_syscall(name) for name in SYSCALLS})


@attempt("clone3")
def clone3():
    # struct clone_args with CLONE_NEWUSER; answered ENOSYS so libc falls back to clone().
    args = (ctypes.c_uint64 * 11)(0x10000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0)
    return fork_by(435, args, ctypes.c_long(88))


# -- the terminal --------------------------------------------------------------------------------

@attempt("tty")
def tty(caller_rdev="0"):
    """TIOCSTI pushes a byte into fd 0's input queue; TIOCLINUX 2 sets a console selection;
    the same requests with a high bit set, which the kernel ignores and a careless filter
    compares. Then what we can reach of the caller's terminal (its device number is
    `caller_rdev`): /dev/tty, any fd of ours, init's fds."""
    import stat
    import termios
    results = {}
    for name, request, arg in (("TIOCSTI", termios.TIOCSTI, b"#"),
                               ("TIOCSTI|1<<32", termios.TIOCSTI | (1 << 32), b"#"),
                               ("TIOCLINUX", 0x541C, bytes([2]) + bytes(9)),
                               ("TIOCLINUX|1<<32", 0x541C | (1 << 32), bytes([2]) + bytes(9))):
        ctypes.set_errno(0)
        buffer = ctypes.create_string_buffer(arg)
        rc = LIBC.syscall(ctypes.c_long(16), ctypes.c_long(0), ctypes.c_ulong(request), buffer)
        results[name] = "ok" if rc == 0 else errno_name(ctypes.get_errno())
    caller = int(caller_rdev)

    def which(fd):
        rdev = os.fstat(fd).st_rdev
        if rdev == caller:
            return "the caller's terminal"
        return "its own pty" if os.isatty(fd) else "not a terminal"
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
        results["open /dev/tty"] = which(fd)
        os.close(fd)
    except OSError as e:
        results["open /dev/tty"] = errno_name(e.errno)
    holding = []
    for name in os.listdir("/proc/self/fd"):
        try:
            info = os.fstat(int(name))
        except OSError:  # the directory listing's own fd, closed by now
            continue
        if stat.S_ISCHR(info.st_mode) and info.st_rdev == caller:
            holding.append(name)
    results["own fds"] = ", ".join(holding) or "none"
    got = []
    for fd in range(3):
        try:
            opened = os.open(f"/proc/1/fd/{fd}", os.O_RDWR)
        except OSError as e:
            got.append(errno_name(e.errno))
            continue
        got.append(which(opened))
        os.close(opened)
    results["init fds"] = " ".join(sorted(set(got)))
    return json.dumps(results)


@attempt("stdin-watch")
def stdin_watch(seconds):
    """Reads whatever arrives on fd 0 for `seconds`, waking every 50 ms, and reports it with
    the longest pause between two wake-ups (a stopped sandbox does not wake)."""
    import select
    import time
    # The clock starts before "watching": a stop right after it shows as the first pause.
    got, last, longest = b"", time.monotonic(), 0.0
    end = last + float(seconds)
    print("watching", file=sys.stderr, flush=True)
    while (now := time.monotonic()) < end:
        longest, last = max(longest, now - last), now
        ready, _, _ = select.select([0], [], [], 0.05)
        if ready:
            chunk = os.read(0, 1024)
            if not chunk:
                break
            got += chunk
    print("finished", file=sys.stderr, flush=True)
    return json.dumps({"read": got.decode(errors="replace"), "longest pause": round(longest, 2)})


def main():
    name, *args = sys.argv[1:]
    print(json.dumps({"got": ATTEMPTS[name](*args)}), flush=True)


if __name__ == "__main__":
    main()

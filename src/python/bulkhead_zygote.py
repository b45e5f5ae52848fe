"""The zygote side of the bulkhead worker plugin: one pytest process that configured and collected
once, in its own sandbox, and forks a worker per request from the supervisor.

Each fork enters a sandbox of its own through libbulkhead_zygote.so (sandbox/forked.h: the same
checklist as a spawned worker's init), then rebinds what this process holds per worker (its
environment, xdist's workerinput, the channel, pytest's global capture) and runs tests from the
collection it inherited. Forking is refused, with one line saying why, when it would not give
each worker what a freshly spawned one gets: threads alive, file descriptors opened during
collection that the workers would share, per-worker environment read at import.
"""

import atexit
import ctypes
import gc
import json
import os
import socket
import sys
import threading

_OWN_FILES = (os.path.abspath(__file__).rstrip("c"),)
# Where os.environ's own methods live (frozen in 3.11+): reads are blamed on their caller.
_MAPPING_FILES = ("/os.py", "/_collections_abc.py", "<frozen os>", "<frozen _collections_abc>")
# What the sandbox installs in every worker (BULKHEAD_*_FD): the channel, stack dumps, the log,
# then its cgroup's counters (BULKHEAD_COUNTER_FDS), which the zygote holds with placeholders.
_WORKER_FDS = (200, 201, 202, 203, 204)
_COUNTER_FDS = (203, 204)


def start():
    """At the plugin's import, before any conftest: the zygote's own descriptors (control socket,
    setup) move to 250 and up, so the fds the plugin takes next are numbered as in a spawned
    worker; the library and the children's setup are loaded; only the payload's capabilities
    stay effective; reads of per-worker variables are watched. Returns the Zygote."""
    import fcntl

    fds = {}
    for name in ("BULKHEAD_ZYGOTE_FD", "BULKHEAD_ZYGOTE_SETUP_FD"):
        fd = int(os.environ[name])
        fds[name] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 250)
        os.close(fd)
    # A spawned worker has its counters there: taken, a high fd the plugin makes next (its copy
    # of stderr) lands where it would in a spawned worker, not on a counter's number.
    placeholder = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    for fd in _COUNTER_FDS:
        if fd not in fds.values():
            os.dup2(placeholder, fd, inheritable=False)
    os.close(placeholder)
    watch = EnvironmentWatch(
        name for name in os.environ.get("BULKHEAD_ZYGOTE_VARYING", "").split(",") if name)
    zygote = Zygote(fds["BULKHEAD_ZYGOTE_FD"], watch)
    try:
        zygote.load(os.environ["BULKHEAD_ZYGOTE_LIB"], fds["BULKHEAD_ZYGOTE_SETUP_FD"])
    except Exception as error:  # reported as the reason not to fork, once collected
        zygote.broken = "zygote: %s" % error
    watch.install()
    return zygote


class EnvironmentWatch:
    """Records where import-time code read a variable whose value differs between workers (the
    zygote only has one value: gw0's). Installed on os.environ while the zygote collects."""

    def __init__(self, varying):
        self.varying = set(varying)
        self.reads = []  # "path:line reads NAME"
        self.copying = None  # (frame, instruction) that iterated os.environ last
        self._installed = None

    def install(self):
        if not self.varying or self._installed is not None:
            return
        watch = self
        base = type(os.environ)

        class WatchedEnviron(base):
            def __getitem__(self, key):
                if key in watch.varying:
                    watch.note(key)
                return base.__getitem__(self, key)

            def __iter__(self):
                watch.copying = watch.caller()
                return base.__iter__(self)

        self._installed = base
        os.environ.__class__ = WatchedEnviron

    def uninstall(self):
        if self._installed is not None:
            os.environ.__class__ = self._installed
            self._installed = None

    @staticmethod
    def caller():
        """The first frame outside os.environ's own code, with the instruction it is at."""
        frame = sys._getframe(1)
        while frame is not None and (
            frame.f_code.co_filename.endswith(_MAPPING_FILES)
            or os.path.abspath(frame.f_code.co_filename).rstrip("c") in _OWN_FILES
        ):
            frame = frame.f_back
        return (frame, frame.f_lasti) if frame is not None else None

    def note(self, key):
        caller = self.caller()
        # The whole environment copied (dict(os.environ), passing it to a subprocess) is not a
        # read of one worker's value.
        if caller is None or caller == self.copying:
            return
        frame = caller[0]
        where = frame.f_code.co_filename
        if where.endswith("bulkhead_worker.py"):
            return
        self.reads.append("%s:%d reads %s" % (where, frame.f_lineno, key))


class WatchedWorkerInput(dict):
    """config.workerinput in the zygote: a read of the worker id during configuration is a read
    of a per-worker value."""

    def __init__(self, values, watch):
        super().__init__(values)
        self._watch = watch

    def __getitem__(self, key):
        if key == "workerid" and self._watch.varying:
            self._watch.note("workerinput['workerid']")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


def _same_file(a, b):
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _describe_fd(fd):
    try:
        return os.readlink("/proc/self/fd/%d" % fd)
    except OSError:
        return "?"


class Zygote:
    """Serves fork requests on the control socket (SOCK_SEQPACKET, JSON with SCM_RIGHTS)."""

    def __init__(self, control_fd, watch):
        self.control = socket.socket(fileno=control_fd)
        self.watch = watch
        self.broken = None  # why it cannot fork, found before the collection
        self.declared = None  # a plugin's or conftest's own word that it is fork-unsafe
        self.lib = None
        self.setup = None
        self.session = None  # set in a forked worker

    def load(self, library, setup_fd):
        lib = ctypes.PyDLL(library)
        lib.bh_load.restype = ctypes.c_void_p
        lib.bh_load.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        for name in ("bh_settle", "bh_unshare"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.bh_init_begin.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.bh_init_serve.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.bh_payload.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_int]
        lib.bh_fail.argtypes = [ctypes.c_int, ctypes.c_char_p]
        self.lib = lib
        error = ctypes.create_string_buffer(1024)
        self.setup = lib.bh_load(setup_fd, error, len(error))
        os.close(setup_fd)
        if not self.setup:
            raise RuntimeError(error.value.decode(errors="replace"))
        if lib.bh_settle(self.setup, error, len(error)) != 0:
            raise RuntimeError(error.value.decode(errors="replace"))

    def send(self, message):
        self.control.send(json.dumps(message).encode())

    def refuse(self, reason):
        """Tells the supervisor it will not fork, and why, then ends: the workers are spawned."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.send({"ready": False, "reason": reason})
        os._exit(0)

    # -- can we fork? ------------------------------------------------------------------------

    def unsafe_reason(self):
        """One line saying why forking would not give each worker a fresh worker's world, or
        None."""
        if self.declared:
            return self.declared
        if self.watch.reads:
            more = len(self.watch.reads) - 1
            return "%s at import, a value that differs per worker%s" % (
                self.watch.reads[0], " (and %d more reads)" % more if more else "")
        threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        if threads:
            return "threads alive after collection: %s" % ", ".join(threads[:3])
        try:
            native = len(os.listdir("/proc/self/task"))
        except OSError:
            native = 1
        if native > 1:
            return "%d threads alive after collection (started outside Python, e.g. a BLAS " \
                   "thread pool)" % (native - 1)
        shared = [fd for fd, kind in self.open_fds().items() if kind is None]
        if shared:
            return "files opened during collection would be shared by every worker: %s" % (
                ", ".join("fd %d (%s)" % (fd, _describe_fd(fd)) for fd in shared[:3]))
        return None

    def open_fds(self):
        """fd -> 0, 1 or 2 for a copy of stdin/stdout/stderr (pointed at the worker's), "ours"
        for the plugin's own, None for anything else."""
        std = [os.fstat(fd) for fd in (0, 1, 2)]
        found = {}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd <= 2:
                continue
            try:
                info = os.fstat(fd)
            except OSError:
                continue  # the listing's own descriptor
            if fd in _WORKER_FDS or fd == self.control.fileno():
                found[fd] = "ours"
                continue
            found[fd] = next((i for i in (2, 1, 0) if _same_file(info, std[i])), None)
        return found

    # -- forking -----------------------------------------------------------------------------

    def serve(self, capture_manager):
        """Answers fork requests until told to exit. Returns in a forked worker (with its
        request) and nowhere else."""
        if capture_manager is not None:
            capture_manager.stop_global_capturing()  # each worker starts its own
        reason = self.broken or self.unsafe_reason()
        self.watch.uninstall()
        if reason:
            self.refuse(reason)
        sys.stdout.flush()
        sys.stderr.flush()
        # What collection built stays shared, copy-on-write: a forked worker's garbage
        # collections no longer walk (and so copy) the zygote's objects.
        gc.freeze()
        self.send({"ready": True})
        while True:
            data, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 16)
            if not data:
                os._exit(0)  # the supervisor is gone
            request = json.loads(data)
            if request.get("cmd") != "fork":
                for fd in fds:
                    os.close(fd)
                os._exit(0)
            child = os.fork()
            if child == 0:
                self.become_worker(request, fds)
                return request
            for fd in fds:
                os.close(fd)
            os.waitpid(child, 0)  # A: it exits as soon as B is forked

    def become_worker(self, request, fds):
        """A, then B and C. Only C returns."""
        # After the worker's three: its cgroup's counter fds, when the supervisor sends them.
        handshake, status, stdout, stderr, channel, stacks, log, *counters = fds
        name = request["name"].encode()
        try:
            self.control.detach()
            error = ctypes.create_string_buffer(1024)
            if self.lib.bh_unshare(self.setup, error, len(error)) != 0:
                self.lib.bh_fail(status, b"unshare: " + error.value)
            if os.fork() != 0:
                os._exit(0)  # A
            signal_fd = self.lib.bh_init_begin(self.setup, name, handshake, status)
            payload = os.fork()
            if payload != 0:
                self.lib.bh_init_serve(self.setup, status, signal_fd, payload)  # B: never returns
            sources = [0, stdout, stderr, channel, stacks, log] + counters
            targets = [0, 1, 2, 200, 201, 202] + [203 + i for i in range(len(counters))]
            for fd, kind in self.open_fds().items():
                if kind in (0, 1, 2):
                    sources.append([0, stdout, stderr][kind])
                    targets.append(fd)
            count = len(sources)
            self.lib.bh_payload(self.setup, (ctypes.c_int * count)(*sources),
                                (ctypes.c_int * count)(*targets), count, status)
        except BaseException as error:  # nothing may return to pytest but a ready worker
            try:
                self.lib.bh_fail(status, ("zygote child: %r" % error).encode())
            finally:
                os._exit(125)


def worker_environment(request):
    """Makes os.environ the worker's own (every key, as a spawned worker's would be)."""
    wanted = dict(entry.split("=", 1) for entry in request["env"] if "=" in entry)
    for key in list(os.environ):
        if key not in wanted:
            del os.environ[key]
    for key, value in wanted.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def declared_fork_unsafe(pluginmanager):
    """The first plugin or conftest that sets `bulkhead_fork_unsafe = "why"` (a module or class
    attribute), as "<name> declares itself fork-unsafe: why"; None when none does."""
    for name, plugin in pluginmanager.list_name_plugin():
        why = getattr(plugin, "bulkhead_fork_unsafe", None)
        if why:
            where = getattr(plugin, "__file__", None) or name
            return "%s declares itself fork-unsafe: %s" % (where, why)
    return None


def arm_quick_exit(zygote):
    """In a forked worker, once pytest has unconfigured: its end skips the interpreter's
    teardown (_exit_without_teardown, registered last so that it runs first)."""
    if zygote.session is not None:
        atexit.register(_exit_without_teardown, zygote.session)


def _exit_without_teardown(session):
    """A forked worker's first atexit call: runs the other atexit handlers (coverage's data
    file, logging's shutdown, weakref finalizers), flushes stdio and ends with pytest's exit
    status (threads were joined before atexit, as in any Python process's end). What it skips
    is the interpreter's teardown: freeing every
    object the fork shares with the zygote writes to each of their pages (copy-on-write), about
    150 ms of CPU a worker, the bulk of a fresh sandbox per test (`--isolate test`)."""
    atexit.unregister(_exit_without_teardown)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        status = int(session.exitstatus)
    except (TypeError, ValueError, AttributeError):
        status = 1
    os._exit(status)


def fork_worker(zygote, config, session):
    """The zygote's test loop: serves fork requests; returns only in a forked worker, once it is
    the worker the request names."""
    capture = config.pluginmanager.getplugin("capturemanager")
    zygote.declared = declared_fork_unsafe(config.pluginmanager)
    request = zygote.serve(capture)
    zygote.session = session  # a forked worker from here on
    worker_environment(request)
    name = request["name"]
    inputs = dict(config.workerinput)
    inputs["workerid"] = name
    config.workerinput = inputs
    compat = config.pluginmanager.get_plugin("bulkhead_xdist")
    if compat is not None:
        compat._worker = name
    if capture is not None:
        capture.start_global_capturing()

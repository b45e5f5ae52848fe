"""What each test cost, read from the worker's own sandbox at the test's start and end (not
sampled): the sandbox's cgroup counts memory and CPU time for every process in it, and the
kernel numbers every process and thread of the sandbox's pid namespace in order.

The supervisor hands the worker two descriptors of its cgroup (BULKHEAD_COUNTER_FDS: the
memory peak there, the CPU time at the next fd; /dev/null where the run has no such group):

- memory: v1 memory.max_usage_in_bytes, v2 memory.peak. A write resets the peak to the current
  usage (v1; v2 since Linux 6.12, for this descriptor only); where the kernel refuses, the peak
  is the sandbox's so far, and the test's record says so (memory_peak_scope "sandbox").
- CPU: v1 cpuacct.usage (ns), v2 cpu.stat (usage_usec): user + system of every process in the
  sandbox. Without one, the worker's own rusage and its waited-for children's.
- pids: /proc/sys/kernel/ns_last_pid in the sandbox's own pid namespace (the worker is pid 2
  there, after init): processes and threads started, the kernel hands out one counter for both.
"""

import os
import resource

# Field names are the JSON report's (docs/reports.md, "resources").
_NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"


def _read(fd):
    try:
        return os.pread(fd, 256, 0)
    except OSError:
        return b""


def _rusage_ns():
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return int(total * 1e9)


class Meter:
    """Reads the counters around one test at a time: start(), then finish() -> dict."""

    def __init__(self, counter_fd):
        self.peak_fd = self._usable(counter_fd)
        self.cpu_fd = self._usable(counter_fd + 1) if counter_fd >= 0 else None
        self.resets = self.peak_fd is not None
        self.pid_fd = None
        if os.getpid() == 2:  # our own pid namespace: its init is 1, we are its first child
            try:
                self.pid_fd = os.open(_NS_LAST_PID, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
        self.cpu_source = "cgroup" if self.cpu_fd is not None else "rusage"
        self._cpu_start = self._start_pid = self._start_memory = None

    @staticmethod
    def _usable(fd):
        """`fd` when it is open and reads a counter (not /dev/null); close-on-exec, so a test's
        subprocesses do not inherit it."""
        if fd < 0:
            return None
        try:
            os.set_inheritable(fd, False)
        except OSError:
            return None
        if not _read(fd).strip():
            os.close(fd)
            return None
        return fd

    def _cpu_ns(self):
        if self.cpu_fd is None:
            return _rusage_ns()
        text = _read(self.cpu_fd)
        try:
            if text.startswith(b"usage_usec"):  # v2 cpu.stat
                return int(text.split(None, 2)[1]) * 1000
            return int(text)  # v1 cpuacct.usage
        except (ValueError, IndexError):
            return None

    def _last_pid(self):
        if self.pid_fd is None:
            return None
        try:
            return int(os.pread(self.pid_fd, 32, 0))
        except (OSError, ValueError):
            return None

    def _peak(self):
        try:
            return int(_read(self.peak_fd))
        except ValueError:
            return None

    def start(self):
        self._start_memory = None
        if self.peak_fd is not None:
            if self.resets:
                try:
                    os.write(self.peak_fd, b"0")
                except OSError:
                    self.resets = False  # v2 before Linux 6.12: the sandbox's peak so far
            if self.resets:
                self._start_memory = self._peak()  # just reset: the usage now
        self._start_pid = self._last_pid()
        self._cpu_start = self._cpu_ns()

    def finish(self):
        out = {}
        cpu = self._cpu_ns()
        if cpu is not None and self._cpu_start is not None:
            out["cpu_s"] = max(0, cpu - self._cpu_start) / 1e9
            out["cpu_source"] = self.cpu_source
        if self.peak_fd is not None:
            peak = self._peak()
            if peak is not None:
                out["memory_peak_bytes"] = peak
                out["memory_peak_scope"] = "test" if self.resets else "sandbox"
                if self._start_memory is not None:
                    out["memory_start_bytes"] = self._start_memory
        last = self._last_pid()
        if last is not None and self._start_pid is not None and last >= self._start_pid:
            out["pids_started"] = last - self._start_pid
        return out


def meter_from_env():
    try:
        fd = int(os.environ.get("BULKHEAD_COUNTER_FDS", "-1"))
    except ValueError:
        fd = -1
    return Meter(fd)

"""Shared helpers for the integration tests: where the binary is, running it, and checking
that no cgroup outlives the run that made it."""
import glob
import os
import subprocess
import sys

BULKHEAD = os.environ.get("BULKHEAD", "bulkhead")
SOURCE_DIR = os.environ.get("BULKHEAD_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PYTHON = sys.executable


def run_exec(command, extra=(), cwd=None, env=None, timeout=120):
    return subprocess.run([BULKHEAD, "exec", *extra, "--", *command], cwd=cwd or "/",
                          env=env, capture_output=True, text=True, timeout=timeout)


def sandbox_python(code, extra=(), cwd=None, env=None, timeout=120):
    return run_exec([PYTHON, "-c", code], extra=extra, cwd=cwd, env=env, timeout=timeout)


def bulkhead_cgroups():
    patterns = ["/sys/fs/cgroup/*/bulkhead-*", "/sys/fs/cgroup/*/*/*/bulkhead-*",
                "/sys/fs/cgroup/bulkhead-*", "/sys/fs/cgroup/*/*/bulkhead-*"]
    found = set()
    for pattern in patterns:
        found.update(glob.glob(pattern))
    return sorted(found)


def leaked_cgroups():
    """bulkhead-<pid>-* groups whose supervisor has exited (live runs may be in progress)."""
    leaked = []
    for path in bulkhead_cgroups():
        name = os.path.basename(path)
        try:
            pid = int(name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not os.path.exists(f"/proc/{pid}"):
            leaked.append(path)
    return leaked

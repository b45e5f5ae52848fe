"""Shared helpers for the integration tests: where the binary is, running it, and checking
that no cgroup outlives the run that made it."""
import os
import subprocess
import sys
import textwrap

BULKHEAD = os.environ.get("BULKHEAD", "bulkhead")
SOURCE_DIR = os.environ.get("BULKHEAD_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PYTHON = sys.executable


def run_exec(command, extra=(), cwd=None, env=None, timeout=120):
    return subprocess.run([BULKHEAD, "exec", *extra, "--", *command], cwd=cwd or "/",
                          env=env, capture_output=True, text=True, timeout=timeout)


def sandbox_python(code, extra=(), cwd=None, env=None, timeout=120):
    return run_exec([PYTHON, "-c", code], extra=extra, cwd=cwd, env=env, timeout=timeout)


def bulkhead_cgroups(root="/sys/fs/cgroup", depth=8):
    """Every bulkhead-* group in any hierarchy, down to `depth` levels (a delegated user
    subtree on v2 sits five levels down)."""
    found = []
    base = root.rstrip("/").count("/")
    for path, dirs, _ in os.walk(root):
        if path.count("/") - base >= depth:
            dirs[:] = []
        for name in dirs:
            if name.startswith("bulkhead-"):
                found.append(os.path.join(path, name))
        dirs[:] = [d for d in dirs if not d.startswith("bulkhead-")]
    return sorted(found)


def _under_own_cgroup(path, root="/sys/fs/cgroup"):
    """Whether `path` lies under this process's own cgroup in its hierarchy (bulkhead makes its
    groups under its own; a v1 hierarchy can hold other containers' groups beside ours)."""
    rel = os.path.relpath(path, root)
    first, _, rest = rel.partition("/")
    pure_v2 = os.path.exists(os.path.join(root, "cgroup.controllers"))
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, own = line.rstrip("\n").split(":", 2)
            names = [c.replace("name=", "") for c in controllers.split(",") if c]
            if controllers == "":  # the unified hierarchy
                if pure_v2:
                    inside = rel
                elif first == "unified":
                    inside = rest
                else:
                    continue
            elif first in names or first == controllers.replace("name=", ""):
                inside = rest
            else:
                continue
            own = own.rstrip("/")
            return own == "" or ("/" + inside).startswith(own + "/")
    return True


def leaked_cgroups():
    """bulkhead-<pid>-* groups whose supervisor has exited (live runs may be in progress)."""
    leaked = []
    for path in bulkhead_cgroups():
        if not _under_own_cgroup(path):
            continue  # another container's, on a hierarchy this machine shares: not ours to judge
        name = os.path.basename(path)
        try:
            pid = int(name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if not os.path.exists(f"/proc/{pid}"):
            leaked.append(path)
    return leaked


# -- `bulkhead run` on the fixture suites ------------------------------------------------------

def write_files(root, files):
    """Writes {relative name: dedented text} under `root` (parent directories made); returns
    `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


SUITES = os.path.join(SOURCE_DIR, "tests", "suites")
SYSTEM_PYTHON = "/usr/bin/python3"  # has pytest; the first python3 on PATH may not


def copy_suite(name, dest):
    """Copies tests/suites/<name> to dest/<name> (runs never write into the repository)."""
    import shutil
    target = os.path.join(str(dest), name)
    shutil.copytree(os.path.join(SUITES, name), target,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def run_bulkhead(*args, cwd, env=None, timeout=240, python=SYSTEM_PYTHON, preexec=()):
    """`bulkhead run` with plain output; returns the CompletedProcess (text)."""
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("COLUMNS", "80")
    full_env.pop("PYTEST_ADDOPTS", None)
    command = [*preexec, BULKHEAD, "run", "--python", python, "--color", "no", *args]
    return subprocess.run(command, cwd=str(cwd), env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def run_pytest(*args, cwd, env=None, timeout=240):
    """Plain pytest on the same suite, for comparing closing lines and exit codes."""
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("COLUMNS", "80")
    full_env.pop("PYTEST_ADDOPTS", None)
    full_env.pop("BULKHEAD_WORKER", None)
    return subprocess.run([SYSTEM_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-p",
                           "no:randomly", "-p", "no:random_order", *args],
                          cwd=str(cwd), env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def closing_counts(stdout):
    """The counts of pytest's closing line: '= 1 failed, 2 passed in 0.1s =' -> '1 failed, 2
    passed' (no duration, no padding)."""
    import re
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        match = re.match(r"^=*\s*(.*?) in [0-9.]+s(?: \([0-9:]+\))?\s*=*$", line)
        if match:
            return match.group(1)
    raise AssertionError("no closing line in:\n" + stdout[-2000:])


def processes_with_env_marker(marker):
    """(pid, cmdline) of live processes whose environment holds `marker` (a unique value the
    run was started with: every sandboxed process inherits it)."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read():
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append((int(entry), cmdline))
    return found


def mount_lines():
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()

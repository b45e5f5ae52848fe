"""Degraded environments, end to end: (a) unprivileged user namespaces off, (b) namespace
creation refused by a Docker-default-like seccomp filter on bulkhead itself, (c) no writable
cgroup. Each run names every missing isolation on one line, runs what it can, refuses with
--require-isolation, and `bulkhead doctor` says which mode the machine is in.

(b) and (c) run anywhere as root: the filter binds only the helper's process tree, and (c)
remounts the cgroup filesystems read-only inside a private mount namespace. (a) needs a kernel
whose user namespaces are off: the cgroup v2 VM's `nouserns` phase (make test-cgroup2); on a
machine that allows them it is skipped, saying so.
"""
import json
import os
import shutil
import subprocess

import pytest

from helpers import BULKHEAD, closing_counts, leaked_cgroups, run_bulkhead

# In the VM, BULKHEAD is a wrapper that gives each run a cgroup of its own; what must see the
# cgroup filesystem read-only uses the binary itself.
REAL_BULKHEAD = os.environ.get("BULKHEAD_VM_REAL", BULKHEAD)
BUILD_DIR = os.environ.get("BULKHEAD_BUILD_DIR",
                           os.path.dirname(os.path.dirname(os.path.abspath(REAL_BULKHEAD))))
SECCOMP = os.path.join(BUILD_DIR, "bin", "docker_like_seccomp")
NAMESPACES = ["mount", "pid", "network", "uts", "ipc", "cgroup"]
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
# Plugins some machines carry that do not apply to a worker; not what these tests are about.
NO_PLUGINS = ["-p", "no:rerunfailures", "-p", "no:random_order"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == []


def not_isolated(stderr):
    prefix = "bulkhead: not isolated: "
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def refused_namespaces(lines):
    return sorted(line.split(" namespace: refused")[0] for line in lines
                  if " namespace: refused (" in line)


def run(command, cwd="/", timeout=120):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def doctor_lines(prefix=()):
    result = run([*prefix, BULKHEAD, "doctor"])
    return result, [line.strip() for line in result.stdout.splitlines()]


# -- (b) a seccomp filter on bulkhead refuses namespaces ---------------------------------------

def test_seccomp_blocked_runs_in_host_namespaces_naming_each_once():
    result = run([SECCOMP, BULKHEAD, "exec", "--", "sh", "-c", "echo ran; hostname"])
    assert result.returncode == 0, result.stderr
    out = result.stdout.split()
    assert out == ["ran", os.uname().nodename]  # no uts namespace: the host's name
    lines = not_isolated(result.stderr)
    assert refused_namespaces(lines) == sorted(NAMESPACES), lines
    assert len(lines) == len(set(lines)), lines
    for line in lines:
        assert "Operation not permitted" in line


def test_seccomp_blocked_still_limits_through_the_cgroup():
    # No namespace, but the cgroup (attached by a write to cgroup.procs, since clone3 answers
    # ENOSYS under the filter) still ends a memory hog.
    result = run([SECCOMP, BULKHEAD, "exec", "--memory", "96M", "--", "/usr/bin/python3", "-c",
                  "b = []\nfor _ in range(16): b.append(bytearray(32 << 20))"])
    if os.geteuid() != 0:
        pytest.skip("rootless: no cgroup to attach to")
    assert result.returncode == 121, result.stderr
    assert "OOM: memory limit 96.0 MiB" in result.stderr


def test_seccomp_blocked_refuses_with_require_isolation():
    result = run([SECCOMP, BULKHEAD, "exec", "--require-isolation", "--", "sh", "-c",
                  "echo must-not-run"])
    assert result.returncode == 125
    assert "must-not-run" not in result.stdout
    assert "isolation required but not available:" in result.stderr
    listed = [line.strip()[2:] for line in result.stderr.splitlines()
              if line.startswith("  - ")]
    assert refused_namespaces(listed) == sorted(NAMESPACES), result.stderr


def test_seccomp_blocked_run_passes_suite_and_names_what_is_missing(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_small.py").write_text(
        "import os\n"
        "def test_a(): assert 1\n"
        "def test_b(): assert os.environ['PYTEST_XDIST_WORKER'].startswith('gw')\n"
        "def test_c(): assert 2 + 2 == 4\n")
    result = run_bulkhead("-n", "2", *NO_PLUGINS, cwd=suite, preexec=[SECCOMP])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert closing_counts(result.stdout) == "3 passed"
    missing = [line[len("isolation missing: "):] for line in result.stdout.splitlines()
               if line.startswith("isolation missing: ")]
    assert refused_namespaces(missing) == sorted(NAMESPACES), result.stdout[:3000]


def test_seccomp_blocked_run_refuses_with_require_isolation(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x(): pass\n")
    result = run_bulkhead("-n", "1", "--require-isolation", cwd=tmp_path, preexec=[SECCOMP])
    assert result.returncode == 4, result.stdout + result.stderr
    assert "bulkhead run: isolation required but not available:" in result.stderr
    listed = [line.strip()[2:] for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert refused_namespaces(listed) == sorted(NAMESPACES), result.stderr


def test_seccomp_blocked_doctor_says_b():
    result, lines = doctor_lines([SECCOMP])
    assert any(line.startswith("[warn] (b) namespace creation: a seccomp filter on bulkhead "
                               "itself refuses 6 of 6 namespaces") for line in lines), result.stdout
    assert "[info] this machine: degraded: (b) (see above)" in lines, result.stdout


# -- (c) no writable cgroup ----------------------------------------------------------------------

# A private mount namespace in which every cgroup filesystem is read-only; the host's stay as
# they are.
READ_ONLY_CGROUPS = (
    "mount --make-rprivate / && "
    "for m in $(awk '$9 ~ /^cgroup/ || $5 == \"/sys/fs/cgroup\" {print $5}' /proc/self/mountinfo); "
    "do mount -o remount,bind,ro \"$m\" || exit 99; done && exec \"$@\"")


def read_only_cgroups(*command):
    return run(["unshare", "--mount", "sh", "-c", READ_ONLY_CGROUPS, "sh", *command])


@needs_root
def test_no_writable_cgroup_runs_with_rlimit_and_says_so():
    result = read_only_cgroups(REAL_BULKHEAD, "exec", "--memory", "256M", "--", "sh", "-c",
                               "echo ran")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran"
    lines = not_isolated(result.stderr)
    assert len(lines) == len(set(lines)), lines
    cgroup_lines = [line for line in lines if line.startswith("cgroups")]
    assert cgroup_lines and all("Read-only file system" in line for line in cgroup_lines), lines
    assert any(line.startswith("memory: no memory cgroup") and "RLIMIT_AS" in line
               for line in lines), lines
    assert refused_namespaces(lines) == []  # namespaces are fine here


@needs_root
def test_no_writable_cgroup_refuses_with_require_isolation():
    result = read_only_cgroups(REAL_BULKHEAD, "exec", "--require-isolation", "--", "sh", "-c",
                               "echo must-not-run")
    assert result.returncode == 125
    assert "must-not-run" not in result.stdout
    assert "Read-only file system" in result.stderr


@needs_root
def test_no_writable_cgroup_doctor_says_c():
    result = read_only_cgroups(REAL_BULKHEAD, "doctor")
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert any(line.startswith("[warn] (c) cgroups: no writable cgroup") for line in lines), \
        result.stdout
    assert "[info] this machine: degraded: (c) (see above)" in lines, result.stdout


# -- (a) unprivileged user namespaces off --------------------------------------------------------

def userns_refused_for_nobody():
    probe = run([*AS_NOBODY, "unshare", "--user", "true"])
    return probe.returncode != 0


needs_userns_off = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not userns_refused_for_nobody(),
    reason="needs root and a kernel with unprivileged user namespaces off (the VM's nouserns "
           "phase of make test-cgroup2)")


@pytest.fixture
def nobody_dir():
    """A directory uid 65534 can reach (pytest's tmp_path lies under a root-only 0700 one)."""
    import pathlib
    import tempfile
    path = pathlib.Path(tempfile.mkdtemp(prefix="bulkhead-nobody-", dir="/tmp"))
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_userns_off
def test_userns_off_rootless_runs_without_namespaces_naming_each(nobody_dir):
    result = run([*AS_NOBODY, BULKHEAD, "exec", "--", "sh", "-c", "id -u; echo ran"],
                 cwd=nobody_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(NOBODY), "ran"]
    lines = not_isolated(result.stderr)
    assert len(lines) == len(set(lines)), lines
    assert [line for line in lines if line.startswith("user namespace: ")] == [
        line for line in lines if line.startswith(f"user namespace: refused to uid {NOBODY} (")]
    assert any(line.startswith(f"user namespace: refused to uid {NOBODY} (") for line in lines)
    assert refused_namespaces(lines) == sorted(NAMESPACES), lines


@needs_userns_off
def test_userns_off_refuses_with_require_isolation(nobody_dir):
    result = run([*AS_NOBODY, BULKHEAD, "exec", "--require-isolation", "--", "sh", "-c",
                  "echo must-not-run"], cwd=nobody_dir)
    assert result.returncode == 125
    assert "must-not-run" not in result.stdout
    assert f"  - user namespace: refused to uid {NOBODY}" in result.stderr


@needs_userns_off
def test_userns_off_run_passes_suite(nobody_dir):
    suite = nobody_dir / "suite"
    suite.mkdir()
    (suite / "test_small.py").write_text(
        "import os\n"
        "def test_a(): assert os.getuid() == 65534\n"
        "def test_b(): assert os.environ['PYTEST_XDIST_WORKER'].startswith('gw')\n")
    for root, dirs, files in os.walk(nobody_dir):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, NOBODY, NOBODY)
    env = dict(os.environ, HOME=str(nobody_dir))
    result = run_bulkhead("-n", "2", *NO_PLUGINS, cwd=suite, env=env, preexec=AS_NOBODY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert closing_counts(result.stdout) == "2 passed"
    assert "isolation missing: user namespace: refused to uid 65534" in result.stdout


@needs_userns_off
def test_userns_off_doctor_says_a():
    result, lines = doctor_lines()
    assert any(line.startswith("[warn] (a) user namespaces: unprivileged user namespaces are off")
               for line in lines), result.stdout
    assert "[info] this machine: degraded: (a) (see above)" in lines, result.stdout


@pytest.mark.parametrize("zygote", ["on", "off"])
def test_what_a_workers_setup_could_not_do_is_named_before_the_closing_line(tmp_path, zygote):
    # Found by the workers' sandboxes after the header was printed (here: $HOME does not exist,
    # so it gets no overlay); it used to be only in the JSON report.
    (tmp_path / "test_x.py").write_text("def test_x(): pass\n")
    report = tmp_path / "r.json"
    result = run_bulkhead("-n", "2", "--zygote", zygote, "--json", str(report), *NO_PLUGINS,
                          cwd=tmp_path, env={**os.environ, "HOME": "/nonexistent-bulkhead-home"})
    assert result.returncode == 0, result.stdout + result.stderr
    line = ("isolation missing: overlay: /nonexistent-bulkhead-home: No such file or directory; "
            "not mounted")
    lines = result.stdout.splitlines()
    assert lines.count(line) == 1, result.stdout
    assert lines.index(line) < len(lines) - 1 and closing_counts(result.stdout) == "1 passed"
    assert line[len("isolation missing: "):] in json.loads(report.read_text())["run"][
        "isolation_missing"]

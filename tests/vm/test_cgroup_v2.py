"""cgroup v2 behaviour of bulkhead, run only inside the v2 VM (make test-cgroup2), as root and
as a user with a delegated subtree: limits land in the leaf's files, the CPU quota throttles,
an OOM kill ends the whole sandbox with its peak, and bulkhead copes with where it is started:
the root cgroup, a cgroup shared with other processes, a container's cgroup namespace (with
and without its own cgroupfs mount), and a cgroup not delegated to it."""
import glob
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from helpers import BULKHEAD, PYTHON, leaked_cgroups  # noqa: E402

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD_VM_PHASE"),
                                reason="runs in the cgroup v2 VM (make test-cgroup2)")

REAL = os.environ.get("BULKHEAD_VM_REAL", BULKHEAD)
SCOPES = os.environ.get("BULKHEAD_VM_SCOPES", "")
BUILD_DIR = os.environ.get("BULKHEAD_BUILD_DIR", "")
ROOT = os.geteuid() == 0
HOG = "b = []\nfor _ in range(32): b.append(bytearray(16 << 20))\n"  # 512 MiB at most
needs_root = pytest.mark.skipif(not ROOT, reason="root only")


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    deadline = time.monotonic() + 5  # the scope watcher removes killed runs' scopes
    while leaked_cgroups() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leaked_cgroups() == []


def run(command, timeout=120, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/",
                          **kwargs)


def not_isolated(stderr):
    prefix = "bulkhead: not isolated: "
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


@pytest.fixture
def fresh_cgroup():
    """An empty cgroup under the phase's scopes (this user may create it there)."""
    path = os.path.join(SCOPES, f"test-{os.getpid()}-{time.monotonic_ns()}")
    os.mkdir(path)
    yield path
    for procs in glob.glob(os.path.join(path, "**", "cgroup.procs"), recursive=True):
        for pid in open(procs).read().split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
    for _ in range(50):
        leftovers = sorted((d for d, _, _ in os.walk(path)), key=len, reverse=True)
        try:
            for d in leftovers:
                os.rmdir(d)
            break
        except OSError:
            time.sleep(0.1)


def in_cgroup(cgroup, script):
    """sh moves itself into `cgroup`, then runs `script` (which usually execs bulkhead)."""
    return ["sh", "-c", f'echo $$ > "{cgroup}/cgroup.procs" || exit 90; {script}']


def test_limits_are_written_to_the_leaf_and_the_sandbox_sees_its_own_root():
    proc = subprocess.Popen(
        [BULKHEAD, "exec", "--memory", "64M", "--pids", "20", "--cpus", "0.5", "--", "sh", "-c",
         "cat /proc/self/cgroup; echo up; sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        inside = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "up"
        [leaf] = glob.glob(os.path.join(SCOPES, f"run-{proc.pid}.scope", "bulkhead-*", "sandbox"))
        read = lambda name: open(os.path.join(leaf, name)).read().strip()  # noqa: E731
        assert read("memory.max") == str(64 << 20)
        assert read("memory.swap.max") == "0"
        assert read("memory.oom.group") == "1"
        assert read("pids.max") == "20"
        assert read("cpu.max") == "50000 100000"
        assert inside == "0::/"  # its own cgroup namespace: the leaf is its root
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_cpu_quota_throttles_a_busy_loop():
    code = (
        "import glob, os, time\n"
        "start, cpu0 = time.monotonic(), time.process_time()\n"
        "while time.monotonic() - start < 2.0: pass\n"
        "ratio = (time.process_time() - cpu0) / (time.monotonic() - start)\n"
        "stat = dict(l.split() for l in open(glob.glob(os.environ['LEAF'])[0]))\n"
        "print(f\"{ratio:.2f} {stat['nr_throttled']}\")\n")
    proc = subprocess.Popen(
        ["sh", "-c", f'LEAF="{SCOPES}/run-$$.scope/bulkhead-*/sandbox/cpu.stat" exec '
                     f'"{BULKHEAD}" exec --cpus 0.2 -- "{PYTHON}" -c "$0"', code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ratio, throttled = out.split()
    assert int(throttled) > 0, out
    assert float(ratio) < 0.35, out  # 0.2 of a core, with slack for the period edges


def test_oom_kills_the_whole_sandbox_and_reports_the_peak():
    # The hog is a child; its parent would sleep on and exit 0. memory.oom.group makes the
    # OOM kill end the sandbox, so "OOM" is what happened to all of it.
    code = ("import os, time\n"
            "if os.fork() == 0:\n"
            f"    {HOG.replace(chr(10), chr(10) + '    ')}\n"
            "    os._exit(0)\n"
            "time.sleep(30)\n"
            "print('parent survived')\n")
    start = time.monotonic()
    result = run([BULKHEAD, "exec", "--memory", "64M", "--", PYTHON, "-c", code])
    assert result.returncode == 121, result.stderr
    assert "parent survived" not in result.stdout
    assert time.monotonic() - start < 25
    line = [l for l in result.stderr.splitlines() if "OOM: memory limit 64.0 MiB" in l]
    assert line, result.stderr
    peak = float(line[0].split("(peak ")[1].split(" MiB")[0])
    assert 48 <= peak <= 65, line  # memory.peak (5.19+): what the group reached


def test_unit_tests_on_a_live_v2_group():
    unit = os.path.join(BUILD_DIR, "bin", "unit_tests")
    result = run([unit, "--gtest_filter=CgroupV2Live.*", "--gtest_brief=0"], timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "[  SKIPPED ]" not in result.stdout, result.stdout[-3000:]
    assert "[  PASSED  ] 2 tests." in result.stdout, result.stdout[-3000:]


@needs_root
def test_started_in_the_root_cgroup():
    # The root is exempt from the no-internal-processes rule: limits work from there too.
    result = run(["sh", "-c", f'echo $$ > /sys/fs/cgroup/cgroup.procs && exec "{REAL}" exec '
                              f'--memory 64M -- "{PYTHON}" -c "$0"', HOG])
    assert result.returncode == 121, result.stderr
    assert not_isolated(result.stderr) == []
    assert glob.glob("/sys/fs/cgroup/bulkhead-*") == []


def test_cgroup_shared_with_another_process_is_named_once(fresh_cgroup):
    script = f'sleep 30 & exec "{REAL}" exec --memory 64M -- sh -c "echo ran"'
    result = run(in_cgroup(fresh_cgroup, script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran"
    lines = not_isolated(result.stderr)
    assert lines == [
        f"cgroups v2: cannot enable +memory +pids in {fresh_cgroup}/cgroup.subtree_control "
        "(Device or resource busy): 1 other process shares our cgroup, and a cgroup with "
        "processes cannot hand controllers to children (the no-internal-processes rule); run "
        "bulkhead in a cgroup of its own: systemd-run --scope -p Delegate=yes (add --user when "
        "not root), or in a container, start it as the container's only process or move the "
        "others to a leaf; no memory, cpu or pids limits",
        "memory: no memory cgroup; the limit is applied as RLIMIT_AS instead and OOM kills "
        "cannot be told apart"], lines
    # It moved itself back and removed its leaf: only the sleep is left in the group.
    assert os.listdir(fresh_cgroup) and not [
        d for d in os.listdir(fresh_cgroup) if d.startswith("bulkhead-")]
    refused = run(in_cgroup(fresh_cgroup, f'sleep 30 & exec "{REAL}" exec --require-isolation '
                                          '-- true'))
    assert refused.returncode == 125
    assert "no-internal-processes rule" in refused.stderr


@needs_root
@pytest.mark.parametrize("remount", [True, False], ids=["own-cgroupfs", "host-cgroupfs"])
def test_inside_a_container_cgroup_namespace(fresh_cgroup, remount):
    # Docker-like: bulkhead is the only process of the container's cgroup, seen as "/" through
    # a cgroup namespace; with its own cgroupfs mount (mountinfo root "/") or the host's
    # (mountinfo root "/..": our directory is found by our pid).
    mount = ("umount -l /sys/fs/cgroup && mount -t cgroup2 container-cgroup /sys/fs/cgroup && "
             if remount else "")
    inner = f'{mount}exec "{REAL}" exec --memory 64M -- "{PYTHON}" -c "$0"'
    result = run(["sh", "-c", f'echo $$ > "{fresh_cgroup}/cgroup.procs" || exit 90; '
                              f"exec unshare --cgroup --mount sh -c '{inner}' \"$0\"", HOG])
    assert result.returncode == 121, result.stderr
    assert not_isolated(result.stderr) == []
    assert [d for d in os.listdir(fresh_cgroup) if d.startswith("bulkhead-")] == []


@needs_root
def test_rootless_in_a_cgroup_not_delegated_to_it():
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", REAL,
                             "exec", "--memory", "64M", "--", "sh", "-c", "echo ran"],
                            capture_output=True, text=True, timeout=120, cwd="/")
    assert result.returncode == 0, result.stderr
    lines = not_isolated(result.stderr)
    assert len(lines) == 2, lines
    assert "(Permission denied): our cgroup is not delegated to uid 65534" in lines[0], lines
    assert lines[1].startswith("memory: no memory cgroup"), lines

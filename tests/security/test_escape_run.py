"""The same attempts from inside `bulkhead run` workers: a small hostile test module, each test
asserting that its attempt fails, run with two workers as root and rootless. A row per test."""
import os
import shutil
import subprocess
import tempfile
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

HOSTILE = textwrap.dedent('''
    import json, os
    import attempts

    def test_read_etc_shadow():
        assert attempts.read_file("/etc/shadow") == "EACCES"

    def test_read_root_only_file():
        assert attempts.read_file(os.environ["ESCAPE_SECRET"]) == "EACCES"

    def test_connect_host_socket_in_run():
        assert attempts.connect_unix(os.environ["ESCAPE_RUN_SOCKET"]) == "ENOENT"

    def test_connect_host_socket_in_var_lib():
        assert attempts.connect_unix(os.environ["ESCAPE_VAR_SOCKET"]) == "EACCES"

    def test_connect_host_loopback():
        assert attempts.connect_tcp("127.0.0.1", os.environ["ESCAPE_TCP_PORT"]) == "ECONNREFUSED"

    def test_write_host_tree():
        assert attempts.write_file("/etc/bulkhead-escape") == "EROFS"

    def test_signal_the_supervisor():
        assert attempts.signal_pid(os.environ["ESCAPE_SUPERVISOR_PID"]) == "ESRCH"

    def test_move_out_of_cgroup():
        assert attempts.cgroup_move() == "EROFS"

    def test_privileged_syscalls():
        results = json.loads(attempts.all_syscalls())
        assert {name: got for name, got in results.items() if got != "EPERM"} == {}
''')

ROWS = {
    "test_read_etc_shadow": "read /etc/shadow",
    "test_read_root_only_file": "read a root-only host file",
    "test_connect_host_socket_in_run": "connect to a host unix socket in /run",
    "test_connect_host_socket_in_var_lib": "connect to a host unix socket in /var/lib",
    "test_connect_host_loopback": "connect to the host's 127.0.0.1",
    "test_write_host_tree": "write /etc",
    "test_signal_the_supervisor": "signal a host process (the harness, by pid)",
    "test_move_out_of_cgroup": "move itself out of its cgroup",
    "test_privileged_syscalls": "the privileged system calls above",
}


def test_attempts_inside_run_workers(stage, mode, check, host_secrets):
    project = Path(tempfile.mkdtemp(prefix="bulkhead-escape-run-"))
    try:
        os.chmod(project, 0o777)
        shutil.copy2(stage / "attempts.py", project / "attempts.py")
        (project / "test_hostile.py").write_text(HOSTILE)
        for path in project.iterdir():
            os.chmod(path, 0o644)
        junit = project / "junit.xml"
        command = [str(stage / "bin" / "bulkhead"), "run", "-n", "2", "--python",
                   "/usr/bin/python3", "--color", "no", "-p", "no:cacheprovider",
                   "-p", "no:random_order", f"--junitxml={junit}"]
        if mode == "rootless":
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = {**os.environ, "ESCAPE_SECRET": host_secrets["secret"],
               "ESCAPE_RUN_SOCKET": host_secrets["run_socket"],
               "ESCAPE_VAR_SOCKET": host_secrets["var_socket"],
               "ESCAPE_TCP_PORT": host_secrets["tcp_port"],
               "ESCAPE_SUPERVISOR_PID": str(os.getpid()), "HOME": str(project)}
        env.pop("PYTEST_ADDOPTS", None)
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                                timeout=180)
        if not junit.exists():
            pytest.fail(f"bulkhead run wrote no report (exit {result.returncode}):\n"
                        f"{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        outcomes = {}
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            failure = case.find("failure")
            outcomes[case.get("name")] = (
                "test passes" if failure is None
                else "test fails: " + (failure.get("message") or "")[:80])
    finally:
        shutil.rmtree(project)
    for name, attempt in ROWS.items():
        check(f"from a bulkhead run worker: {attempt}", "test passes",
              outcomes.get(name, "not reported"))

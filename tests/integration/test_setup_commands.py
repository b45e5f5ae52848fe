"""Setup and teardown commands (--setup, --worker-setup, ...) without any server: a failing or
interrupted setup stops the run before any test and the teardowns run for what was set up;
$BULKHEAD_ENV reaches the workers and the teardowns; bad output and placeholders are named; a
setup past its timeout is killed with everything it started."""
import os
import signal
import time

from services_support import run, start, suite


def marker_processes(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def test_a_failing_setup_stops_the_run_before_any_test(tmp_path):
    suite(tmp_path, "def test_never(): open('/tmp/ran', 'w')\n")
    result = run(["-n", "2", "--setup", "echo preparing; echo boom >&2; exit 3",
                  "--teardown", f"touch {tmp_path}/run-teardown",
                  "--worker-setup", f"touch {tmp_path}/never-{{worker}}"], cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert ("bulkhead run: setup `echo preparing; echo boom >&2; exit 3` exited with status 3 "
            "after") in result.stderr
    assert "its stderr ends:\n    boom\n" in result.stderr
    assert "no test ran; the teardown ran for what was set up" in result.stderr
    assert "collected" not in result.stdout and "passed" not in result.stdout
    assert (tmp_path / "run-teardown").exists(), "the teardown runs even for a failed setup"
    assert not list(tmp_path.glob("never-*")), "no worker setup after a failed run setup"


def test_one_failing_worker_setup_tears_down_every_worker(tmp_path):
    suite(tmp_path, "def test_never(): pass\n")
    result = run(["-n", "3",
                  "--worker-setup", "test {worker} != gw1 || { echo 'no room for gw1' >&2; exit 7; }",
                  "--worker-teardown", f"echo {{worker}} >> {tmp_path}/teardowns"], cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "worker setup (gw1) `test gw1 != gw1 || " in result.stderr
    assert "exited with status 7" in result.stderr and "no room for gw1" in result.stderr
    assert sorted((tmp_path / "teardowns").read_text().split()) == ["gw0", "gw1", "gw2"]
    assert "collected" not in result.stdout


def test_setup_output_reaches_every_worker_and_the_teardowns(tmp_path):
    suite(tmp_path, """
        import os
        def test_env():
            worker = os.environ["PYTEST_XDIST_WORKER"]
            assert os.environ["SHARED"] == "from setup"
            assert os.environ["MINE"] == worker + "-own"
            assert os.environ["SEEN"] == "from setup"  # the worker setup saw the run's
    """)
    (tmp_path / "test_more.py").write_text((tmp_path / "test_suite.py").read_text())
    result = run(["-n", "2",
                  "--setup", "echo 'SHARED=from setup' >> \"$BULKHEAD_ENV\"",
                  "--worker-setup",
                  "printf 'MINE={worker}-own\\nSEEN=%s\\n' \"$SHARED\" >> \"$BULKHEAD_ENV\"",
                  "--worker-teardown", f"echo \"$BULKHEAD_WORKER $MINE\" >> {tmp_path}/seen",
                  "--teardown", f"echo \"$SHARED\" > {tmp_path}/run-seen"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "worker setup: `printf" in result.stdout and "x2 (" in result.stdout
    assert sorted((tmp_path / "seen").read_text().splitlines()) == ["gw0 gw0-own", "gw1 gw1-own"]
    assert (tmp_path / "run-seen").read_text() == "from setup\n"


def test_bad_setup_output_and_templates_are_named(tmp_path):
    suite(tmp_path, "def test_x(): pass\n")
    result = run(["--setup", "echo 'not a line' >> \"$BULKHEAD_ENV\""], cwd=tmp_path)
    assert result.returncode == 4
    assert ("it wrote to $BULKHEAD_ENV line 1 'not a line': expected KEY=VALUE"
            in result.stderr), result.stderr
    result = run(["--worker-setup", "createdb app_{workr}"], cwd=tmp_path)
    assert result.returncode == 4
    assert ("--worker-setup (worker_setup): unknown placeholder {workr} in `createdb app_{workr}`"
            in result.stderr), result.stderr


def test_an_interrupted_setup_stops_and_tears_down(tmp_path):
    suite(tmp_path, "def test_x(): pass\n")
    process = start(["--setup", "touch setup-started; sleep 60",
                     "--teardown", "touch teardown-ran"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "setup-started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2, out + err
    assert time.monotonic() - started < 10
    assert "was stopped by an interrupt" in err
    assert (tmp_path / "teardown-ran").exists()


def test_a_setup_past_its_timeout_is_killed_with_what_it_started(tmp_path):
    suite(tmp_path, "def test_x(): pass\n")
    marker = f"bulkhead-setup-marker-{os.getpid()}"
    started = time.monotonic()
    result = run(["--setup", f"sh -c 'sleep 300' {marker} & sleep 200", "--setup-timeout", "1"],
                 cwd=tmp_path)
    assert result.returncode == 4
    assert time.monotonic() - started < 30
    assert "timed out after 1." in result.stderr and "and was killed" in result.stderr
    time.sleep(0.5)
    assert marker_processes(marker) == [], "the setup's background process outlived it"



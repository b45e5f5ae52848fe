"""`bulkhead run` on cgroup v2 (the VM of make test-cgroup2, as root and as a delegated user):
the fault suite tests/suites/run_faults with generous deadlines for an emulated CPU. A hang is
a timeout with its stack, the memory hog an OOM read from memory.events, each crash a crash
with its signal or status, the ordinary tests pass, and nothing is left behind."""
import json
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from helpers import (closing_counts, copy_suite, leaked_cgroups,  # noqa: E402
                     processes_with_env_marker, run_bulkhead)

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD_VM_PHASE"),
                                reason="runs in the cgroup v2 VM (make test-cgroup2)")
NO_PLUGINS = ["-p", "no:rerunfailures", "-p", "no:random_order"]


def test_fault_suite_outcomes_and_causes(tmp_path):
    suite = copy_suite("run_faults", tmp_path)
    report = tmp_path / "r.json"
    marker = "bulkhead-vm-" + uuid.uuid4().hex
    env = dict(os.environ, BULKHEAD_IT_MARKER=marker, HOME=str(tmp_path))
    result = run_bulkhead("-n", "2", "--memory", "256M", "--pids", "256", "-k", "not slow",
                          "--json", str(report), *NO_PLUGINS, cwd=suite, env=env, timeout=900)
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr
    assert closing_counts(out) == "6 failed, 2 passed, 1 deselected", out[-3000:]
    tests = {t["nodeid"]: t for t in json.loads(report.read_text())["tests"]}
    cause = lambda name: (tests[f"test_faults.py::{name}"]["outcome"],  # noqa: E731
                          tests[f"test_faults.py::{name}"]["cause"])
    assert cause("test_ok_before")[0] == "passed"
    assert cause("test_ok_after")[0] == "passed"
    assert cause("test_hangs") == ("failed", "timeout")
    assert cause("test_oom") == ("failed", "oom")
    for crash in ("test_segfault", "test_os_exit", "test_abort", "test_kill_self"):
        assert cause(crash) == ("failed", "crash"), crash
    assert "OOM test_faults.py::test_oom - OOM: memory limit 256 MiB exceeded" in out
    assert "in test_hangs" in out  # the faulthandler stack of the hung test
    assert "SIGSEGV" in out and "SIGABRT" in out
    assert processes_with_env_marker(marker) == []
    assert leaked_cgroups() == []

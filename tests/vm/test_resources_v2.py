"""Per-test resources on cgroup v2 (the VM of make test-cgroup2, as root and as a delegated
user): CPU time from the leaf's cpu.stat, the memory peak from memory.peak (reset per test on
Linux 6.12+, else the sandbox's peak so far, which the report says), pids started from the
sandbox's pid namespace. Three tests of tests/suites/resources, to stay short under TCG."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from helpers import copy_suite, leaked_cgroups, run_bulkhead  # noqa: E402

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD_VM_PHASE"),
                                reason="runs in the cgroup v2 VM (make test-cgroup2)")
MIB = 1 << 20


def _kernel_resets_peak():
    major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 12)


def test_resources_come_from_the_v2_leaf(tmp_path):
    suite = copy_suite("resources", tmp_path)
    report = tmp_path / "r.json"
    result = run_bulkhead("-n", "1", "-k", "200_mib or burns or five", "--json", str(report),
                          "--top-memory", "3", "-p", "no:randomly", "-p", "no:random_order",
                          cwd=suite, env=dict(os.environ, HOME=str(tmp_path)), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "top 3 memory peaks" in result.stdout, result.stdout[-3000:]
    tests = {t["nodeid"].split("::")[-1]: t["resources"]
             for t in json.loads(report.read_text())["tests"]}
    scope = "test" if _kernel_resets_peak() else "sandbox"
    for name, r in tests.items():
        assert r["cpu_source"] == "cgroup", (name, r)
        assert r["memory_peak_scope"] == scope, (name, r)
        assert ("memory_start_bytes" in r) == (scope == "test"), (name, r)
    big = tests["test_b_allocates_200_mib"]
    assert big["memory_peak_bytes"] >= 200 * MIB, big
    assert tests["test_d_burns_cpu"]["cpu_s"] >= 0.3, tests["test_d_burns_cpu"]
    assert tests["test_e_starts_five_processes"]["pids_started"] == 5, tests
    assert leaked_cgroups() == []

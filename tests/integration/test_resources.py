"""Per-test resources, measured by each test's sandbox (docs/reports.md, "Resources"): the
memory peak of a test that allocates 200 MiB, the CPU time of one that burns 0.3 s, the
processes of one that starts 5, and a small test after the big one reporting small (the peak is
reset per test); in the JSON report, as JUnit properties, in the run record and `bulkhead show`,
in zygote and spawn mode."""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from helpers import BULKHEAD, copy_suite, leaked_cgroups, run_bulkhead
from test_reports import dump_dom

MIB = 1 << 20


def _by_name(report):
    return {t["nodeid"].split("::")[-1]: t for t in report["tests"]}


@pytest.mark.parametrize("zygote", ["on", "off"])
def test_each_test_reports_what_it_cost(tmp_path, zygote):
    suite = copy_suite("resources", tmp_path)
    records = tmp_path / "records"
    env = dict(os.environ, BULKHEAD_RECORD_DIR=str(records))
    result = run_bulkhead("-n", "1", "--zygote", zygote, "-p", "no:randomly", "-p",
                          "no:random_order", "--json", "r.json", "--junitxml", "r.xml",
                          "--top-memory", "2", cwd=suite, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
    report = json.loads((tmp_path / "resources" / "r.json").read_text())
    tests = _by_name(report)
    resources = {name: t["resources"] for name, t in tests.items()}
    v1 = report["run"]["cgroup_mode"] in ("v1", "hybrid")

    for name, r in resources.items():
        assert r["cpu_source"] == "cgroup", (name, r)
        assert r["memory_peak_scope"] in ("test", "sandbox"), (name, r)
        if v1:  # memory.max_usage_in_bytes resets on every kernel
            assert r["memory_peak_scope"] == "test", (name, r)
        assert r["memory_peak_bytes"] > 0

    big = resources["test_b_allocates_200_mib"]
    if big["memory_peak_scope"] == "test":
        # The peak includes the interpreter's own memory (memory_start_bytes): the test's
        # growth above it is the 200 MiB it allocated, within 10 %.
        growth = big["memory_peak_bytes"] - big["memory_start_bytes"]
        assert 0.9 * 200 * MIB <= growth <= 1.1 * 200 * MIB, big
        small = resources["test_c_small_after_big"]
        assert small["memory_peak_bytes"] - small["memory_start_bytes"] < 20 * MIB, small
        assert small["memory_peak_bytes"] < big["memory_peak_bytes"] - 150 * MIB, (small, big)
    else:
        assert big["memory_peak_bytes"] >= 200 * MIB, big

    burn = resources["test_d_burns_cpu"]
    assert 0.3 <= burn["cpu_s"] < 1.0, burn
    # (The first test is not the small one to compare: it pays the leak check's baseline.)
    assert resources["test_c_small_after_big"]["cpu_s"] < 0.1, resources

    assert resources["test_e_starts_five_processes"]["pids_started"] == 5, resources
    assert resources["test_a_small"]["pids_started"] == 0, resources

    junit = ET.parse(tmp_path / "resources" / "r.xml")
    props = {}
    for case in junit.iter("testcase"):
        props[case.get("name")] = {p.get("name"): p.get("value") for p in case.iter("property")}
    five = props["test_e_starts_five_processes"]
    assert five["bulkhead_pids_started"] == "5", five
    assert float(props["test_d_burns_cpu"]["bulkhead_cpu_seconds"]) >= 0.3
    peak = props["test_b_allocates_200_mib"]
    assert int(peak["bulkhead_memory_peak_bytes"]) == big["memory_peak_bytes"]
    assert peak["bulkhead_memory_peak_scope"] == big["memory_peak_scope"]
    assert leaked_cgroups() == []

    # The terminal's section: the 200 MiB test first, then one more; peaks and growth in MiB.
    section = result.stdout.split(" top 2 memory peaks ")[1].split("\n=")[0].splitlines()[1:]
    assert section[0].split() == ["peak", "growth", "CPU", "pids", "test"], section
    assert len(section) == 3, section
    first = section[1].split()
    assert first[-1].endswith("::test_b_allocates_200_mib"), section
    assert first[1] == "MiB" and abs(float(first[0]) - big["memory_peak_bytes"] / MIB) < 0.1
    if big["memory_peak_scope"] == "test":
        assert first[2].startswith("+") and 180 <= float(first[2][1:]) <= 220, section

    # The run record carries the same figures, and `bulkhead show` prints them.
    (run_dir,) = [p for p in records.iterdir() if not p.name.startswith(".")]
    recorded = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert {t["nodeid"]: t.get("resources") for t in recorded} == \
        {t["nodeid"]: t.get("resources") for t in report["tests"]}
    nodeid = tests["test_b_allocates_200_mib"]["nodeid"]
    shown = subprocess.run([BULKHEAD, "show", run_dir.name, nodeid], cwd=suite, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    line = next(l for l in shown.stdout.splitlines() if l.startswith("resources: "))
    assert f"memory peak {big['memory_peak_bytes'] / MIB:.1f} MiB" in line, line
    assert f"CPU {big['cpu_s']:.2f}s (cgroup)" in line, line
    if big["memory_peak_scope"] == "test":
        growth = (big["memory_peak_bytes"] - big["memory_start_bytes"]) / MIB
        assert f"(+{growth:.1f} MiB during the test)" in line, line


def test_html_report_and_trace_show_them(tmp_path):
    suite = copy_suite("resources", tmp_path)
    result = run_bulkhead("-n", "1", "-p", "no:randomly", "-p", "no:random_order", "--html",
                          "r.html", "--trace", "t.json", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    # The trace's test slices carry them too.
    slices = {e["name"]: e for e in json.loads((tmp_path / "resources" / "t.json").read_text())
              ["traceEvents"] if e.get("ph") == "X" and e.get("cat") != "sandbox"}
    big = [e for name, e in slices.items() if name.endswith("test_b_allocates_200_mib")]
    assert big and big[0]["args"]["resources"]["memory_peak_bytes"] > 200 * MIB, slices.keys()
    dom = dump_dom(tmp_path / "resources" / "r.html")
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    assert '<section id="memory-section">' in dom, "the Most memory table is hidden"
    cell = r"<td>([^<]*)</td>"
    rows = re.findall("<tr>" + cell * 4, dom.split('id="memory"')[1])
    rows = [(row[0], row[3]) for row in rows if row[0].startswith("memory peak ")]
    assert rows and rows[0][1].endswith("::test_b_allocates_200_mib"), rows
    assert re.match(r"memory peak \d+\.\d MiB .*CPU .*pids started", rows[0][0]), rows[0]

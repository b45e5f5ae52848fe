"""Integration (issue 13, reports people look at): one `bulkhead run -n 4` on part of the faults
suite (a crash, a hang, an OOM, ordinary tests) with --html, --trace and GitHub Actions' and
GitLab's environment set. The HTML report is opened in headless Chromium and its DOM checked
(a lane per worker, a bar per test that ran, the crash, timeout and OOM marked, a replacement
mark per replacement sandbox); the trace, the annotations and the step summary are checked
against the JSON report of the same run."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import SOURCE_DIR, copy_suite, run_bulkhead

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD (the binary) not set")

WORKERS = 4
SUBSET = "segfault or hang_sleep or memory_hog or ordinary_a or ordinary_b"
CRASH = "test_fault_crash.py::test_crash_segfault"
HANG = "test_fault_hang.py::test_hang_sleep"
OOM = "test_fault_resources.py::test_memory_hog"
# Debian's pytest-random-order and -rerunfailures (installed for the plugin tests) are not this
# test's subject.
NO_PLUGINS = ["-p", "no:random_order", "-p", "no:rerunfailures"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    workspace = base / "repo"  # GITHUB_WORKSPACE: the suite is the repository's "faults/"
    workspace.mkdir()
    suite = copy_suite("faults", workspace)
    out = {name: base / name for name in ("report.json", "report.html", "trace.json", "summary.md")}
    env = dict(os.environ, BULKHEAD_FAULT_HANG_S="60", GITHUB_ACTIONS="true",
               GITHUB_WORKSPACE=str(workspace), GITHUB_STEP_SUMMARY=str(out["summary.md"]),
               GITLAB_CI="true")
    result = run_bulkhead("-n", str(WORKERS), "--timeout", "5", "--memory", "512M",
                          "--json", str(out["report.json"]), "--html", str(out["report.html"]),
                          "--trace", str(out["trace.json"]), "-k", SUBSET,
                          *NO_PLUGINS, cwd=suite, env=env, timeout=240)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads(out["report.json"].read_text())
    return dict(out, result=result, report=report, base=base,
                tests={t["nodeid"]: t for t in report["tests"]})


def test_faults_are_what_the_views_are_checked_against(run):
    tests = run["tests"]
    assert tests[CRASH]["cause"] == "crash"
    assert tests[HANG]["cause"] == "timeout"
    assert tests[OOM]["cause"] == "oom"


def dump_dom(path):
    assert CHROMIUM, "chromium is not installed (make deps installs it)"
    done = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=10000", "--dump-dom", path.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_html_timeline_in_headless_chromium(run):
    page = run["report.html"].read_text()
    assert "://" not in page.replace("http://www.w3.org", "")  # nothing fetched at view time
    dom = dump_dom(run["report.html"])
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    lanes = re.findall(r'<div class="lane" data-worker="(gw\d+)" data-sandboxes="(\d+)" '
                       r'data-bars="(\d+)"', dom)
    assert sorted(w for w, _, _ in lanes) == [f"gw{i}" for i in range(WORKERS)]
    report = run["report"]
    ran = [t for t in report["tests"] if t["worker"] and t["stop"] > 0]
    for worker, _, bars in lanes:
        assert int(bars) == sum(1 for t in ran if t["worker"] == worker), worker
    assert sum(int(bars) for _, _, bars in lanes) == len(ran) > 0
    sandboxes = report.get("sandboxes")
    if sandboxes is not None:
        for worker, count, _ in lanes:
            assert int(count) == sum(1 for s in sandboxes if s["worker"] == worker)
        replaced = sum(1 for s in sandboxes if s["incarnation"] > 0)
        assert len(re.findall(r'class="replaced"', dom)) == replaced
    markers = re.findall(r'class="marker" data-cause="(\w+)" title="[a-zA-Z ]+: ([^"\n]+)', dom)
    for nodeid, cause in ((CRASH, "crash"), (HANG, "timeout"), (OOM, "oom")):
        assert (cause, nodeid) in markers, markers
    # Failures list every failed test once, the crash with its cause.
    failures = re.findall(r'<details class="failure" data-nodeid="([^"]+)" data-cause="(\w*)"', dom)
    failed = sorted(t["nodeid"] for t in report["tests"] if t["outcome"] in ("failed", "error"))
    assert sorted(n for n, _ in failures) == failed
    assert (CRASH, "crash") in failures
    assert f'{len(report["tests"])} of {len(report["tests"])} tests' in dom


def test_html_screenshot(run):
    shot = run["base"] / "report.png"
    subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--virtual-time-budget=10000", f"--screenshot={shot}", "--window-size=1280,760",
                    run["report.html"].as_uri()], capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    if os.environ.get("BULKHEAD_UPDATE_SCREENSHOT"):  # refreshes the README's picture
        shutil.copy(shot, Path(SOURCE_DIR) / "docs" / "images" / "report.png")


def test_trace_one_track_per_worker(run):
    events = json.loads(run["trace.json"].read_text())["traceEvents"]
    tracks = {e["args"]["name"]: e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    ran = [t for t in run["report"]["tests"] if t["worker"] and t["stop"] > 0]
    assert set(tracks) == {t["worker"] for t in ran}
    slices = [e for e in events if e["ph"] == "X" and e["cat"] != "sandbox"]
    assert sorted(e["name"] for e in slices) == sorted(t["nodeid"] for t in ran)
    for e in slices:
        assert e["tid"] == tracks[run["tests"][e["name"]]["worker"]]
    instants = {(e["cat"], e["name"]) for e in events if e["ph"] == "i"}
    assert {("crash", "crash: " + CRASH), ("timeout", "timeout: " + HANG), ("oom", "oom: " + OOM)} <= instants


def test_github_annotations(run):
    lines = [l for l in run["result"].stdout.splitlines() if l.startswith("::error ")]
    failed = [t for t in run["report"]["tests"] if t["outcome"] in ("failed", "error")]
    assert len(lines) == min(10, len(failed)) > 0
    by_title = {}
    for line in lines:
        m = re.fullmatch(r"::error file=([^,:]+)(?:,line=(\d+))?,title=([^,:]+)::(.*)", line)
        assert m, line
        by_title[m.group(3).replace("%3A", ":")] = m
    crash = by_title["crash: " + CRASH]
    assert crash.group(1) == "faults/test_fault_crash.py"  # relative to GITHUB_WORKSPACE
    assert crash.group(4).startswith("Crash: worker gw") and "SIGSEGV" in crash.group(4)
    assert by_title["timeout: " + HANG].group(1) == "faults/test_fault_hang.py"
    oom = by_title["OOM kill: " + OOM]
    assert oom.group(1) == "faults/test_fault_resources.py"
    # The hang's traceback points into the test's own file at a 1-based line of the test body.
    hang = by_title["timeout: " + HANG]
    if hang.group(2):
        source = (run["base"] / "repo" / "faults" / "test_fault_hang.py").read_text().splitlines()
        assert "sleep" in source[int(hang.group(2)) - 1]


def test_github_step_summary(run):
    md = run["summary.md"].read_text()
    summary = run["report"]["summary"]
    assert md.startswith(f"### bulkhead: failed, {summary['tests']} tests in ")
    assert f"| {summary['passed']} | {summary['failed']} |" in md
    assert f"- `{CRASH}` **crash**: Crash: worker gw" in md
    assert f"- `{OOM}` **OOM kill**: OOM" in md
    assert "#### Slowest tests" in md and f"`{HANG}`" in md
    assert re.search(r"^\| gw0 \| #0 \| \d+ \|", md, re.M)
    # The highest memory peaks, as the JSON report measured them (this run has memory cgroups).
    peaks = {t["nodeid"]: t["resources"]["memory_peak_bytes"] for t in run["report"]["tests"]
             if t.get("resources", {}).get("memory_peak_bytes")}
    assert peaks, "no test has a memory peak"
    table = md.split("#### Most memory\n\n")[1].split("\n\n")[0].splitlines()
    assert table[0] == "| peak | growth | CPU | pids | test |", table
    rows = table[2:]
    assert len(rows) == min(5, len(peaks)), (rows, peaks)
    highest = max(peaks.values())
    first = re.fullmatch(r"\| ([\d.]+) MiB \| .* \| `(.+)` \|", rows[0])
    assert first and peaks.get(first.group(2)) == highest, (rows, peaks)
    assert first.group(1) == f"{highest / (1 << 20):.1f}", rows


def test_gitlab_sections_around_the_run(run):
    # (text mode reads the markers' \r as \n)
    out = run["result"].stdout
    start = re.search(r"\x1b\[0Ksection_start:\d+:bulkhead_tests[\r\n]\x1b\[0K", out)
    end = re.search(r"\x1b\[0Ksection_end:\d+:bulkhead_tests[\r\n]\x1b\[0K", out)
    assert start and end and start.end() < out.index(" passed") < end.start()

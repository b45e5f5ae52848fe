"""Integration (issue "shards"): a simulated cluster. Each CI flavour's examples in docs/ci.md
are run as written (the CI's expression syntax and volume paths substituted as the CI would),
as 4 separate `bulkhead run` processes started together, as 4 machines would; then `bulkhead
merge`. The merged test ids, outcomes, counts and exit status must equal one `bulkhead run -n 2`
of the same suite. A shard killed mid-run makes merge name its missing tests and fail."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from helpers import BULKHEAD, SOURCE_DIR, SUITES, leaked_cgroups, run_bulkhead

pytestmark = pytest.mark.skipif(not os.environ.get("BULKHEAD"), reason="BULKHEAD (the binary) not set")

DOCS = Path(SOURCE_DIR) / "docs" / "ci.md"
SHARDS = 4


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == [], "cgroups left behind by a finished run"


def example(name):
    """The code block after `<!-- example: NAME -->` in docs/ci.md."""
    text = DOCS.read_text()
    match = re.search(r"<!-- example: " + re.escape(name) + r" -->\n```\w*\n(.*?)```", text, re.S)
    assert match, f"docs/ci.md has no example '{name}'"
    return match.group(1)


def make_suite(root):
    """Every outcome pytest reports (tests/suites/outcomes) beside module-scoped fixtures
    (tests/suites/scoped); exit status 1."""
    root.mkdir()
    for suite in ("outcomes", "scoped"):
        for path in (Path(SUITES) / suite).glob("*.py"):
            shutil.copy(path, root / path.name)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:randomly\n")
    return root


def environment(extra=None):
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    for name in ("CI_NODE_INDEX", "CI_NODE_TOTAL", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL",
                 "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", "JOB_COMPLETION_INDEX",
                 "BULKHEAD_SHARD_TOTAL", "TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", "XML_OUTPUT_FILE",
                 "TEST_TMPDIR", "TEST_SHARD_STATUS_FILE", "TEST_PREMATURE_EXIT_FILE"):
        env.pop(name, None)
    env["PATH"] = os.path.dirname(os.path.abspath(BULKHEAD)) + os.pathsep + env["PATH"]
    env["COLUMNS"] = "80"
    env.update(extra or {})
    return env


def start_shell(script, cwd, env):
    return subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def run_together(jobs):
    """Starts every (script, cwd, env) at once, as separate machines would; waits for all."""
    procs = [start_shell(*job) for job in jobs]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        outputs.append((proc.returncode, out))
    return outputs


def merge_in(script, cwd, env=None):
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=str(cwd),
                            env=env or environment(), capture_output=True, text=True, timeout=120)
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One `bulkhead run -n 2` of the suite: what the merged shards must equal."""
    root = make_suite(tmp_path_factory.mktemp("reference") / "suite")
    report, junit = root / "ref.json", root / "ref.xml"
    result = run_bulkhead("-n", "2", "--json", str(report), "--junitxml", str(junit), cwd=root)
    assert result.returncode == 1, result.stdout[-3000:]
    return {"json": json.loads(report.read_text()), "junit": junit, "exit": result.returncode}


def outcomes(report):
    return {t["nodeid"]: (t["outcome"], t["cause"]) for t in report["tests"]}


def junit_cases(path):
    suite = ElementTree.parse(path).getroot().find("testsuite")
    cases = {}
    for case in suite.findall("testcase"):
        kinds = sorted(child.tag for child in case if child.tag in ("failure", "error", "skipped"))
        cases[(case.get("classname"), case.get("name"))] = kinds
    counts = {k: int(suite.get(k)) for k in ("tests", "failures", "errors", "skipped")}
    return cases, counts


def check_merged(reference, merged_json, merged_junit, merge_result):
    merged = json.loads(Path(merged_json).read_text())
    assert outcomes(merged) == outcomes(reference["json"])
    assert merged["summary"] == reference["json"]["summary"]
    assert merge_result.returncode == reference["exit"], merge_result.stdout + merge_result.stderr
    assert [t["nodeid"] for t in merged["tests"]] == [t["nodeid"] for t in reference["json"]["tests"]]
    assert junit_cases(merged_junit) == junit_cases(reference["junit"])
    assert len(merged["shards"]) == SHARDS
    assert sorted(s["index"] for s in merged["shards"]) == [1, 2, 3, 4]
    # Every shard has a gw0: the merged report names shard 2's "2/gw0" (a lane of its own).
    ran = [t for t in merged["tests"] if t["phases"]]
    assert ran and all(re.fullmatch(r"[1-4]/gw\d+", t["worker"]) for t in ran), ran[:3]
    return merged


def shard_results(outputs):
    for code, out in outputs:
        assert code in (0, 1), out[-3000:]  # failing tests fail a shard; nothing else may
    return outputs


def test_github_matrix_then_merge_job(tmp_path, reference):
    workflow = yaml.safe_load(example("github"))
    shard_steps = [s["run"] for s in workflow["jobs"]["shard"]["steps"]
                   if "bulkhead run" in s.get("run", "")]
    assert len(shard_steps) == 1
    assert workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    machines = []
    for shard in range(1, SHARDS + 1):
        checkout = make_suite(tmp_path / f"machine{shard}")
        script = shard_steps[0].replace("${{ matrix.shard }}", str(shard))
        machines.append((script, checkout, environment()))
    outputs = shard_results(run_together(machines))
    for (_, checkout, _), (_, out) in zip(machines, outputs):
        assert re.search(r"shard \d/4 \(--shard \d/4\): \d+ of \d+ tests", out), out[-2000:]
    # The report job: a fresh checkout, the artifacts downloaded into results/ (merge-multiple).
    report_job = make_suite(tmp_path / "report")
    (report_job / "results").mkdir()
    for _, checkout, _ in machines:
        for path in (checkout / "results").glob("*.json"):
            shutil.copy(path, report_job / "results" / path.name)
    merge_steps = [s["run"] for s in workflow["jobs"]["report"]["steps"]
                   if "bulkhead merge" in s.get("run", "")]
    result = merge_in(merge_steps[0], report_job)
    check_merged(reference, report_job / "all.json", report_job / "junit.xml", result)
    assert (report_job / "report.html").stat().st_size > 0
    assert json.loads((report_job / ".test_durations").read_text()).keys() == {
        t["nodeid"] for t in reference["json"]["tests"] if t["phases"]}


def test_gitlab_parallel_then_merge_job(tmp_path, reference):
    pipeline = yaml.safe_load(example("gitlab"))
    assert pipeline["tests"]["parallel"] == SHARDS
    machines = []
    for shard in range(1, SHARDS + 1):
        checkout = make_suite(tmp_path / f"machine{shard}")
        env = environment({"CI_NODE_INDEX": str(shard), "CI_NODE_TOTAL": str(SHARDS)})
        machines.append(("\n".join(pipeline["tests"]["script"]), checkout, env))
    outputs = shard_results(run_together(machines))
    for shard, (_, out) in enumerate(outputs, 1):
        assert f"shard {shard}/4 (GitLab: CI_NODE_INDEX={shard}, CI_NODE_TOTAL=4)" in out, out[-2000:]
    report_job = make_suite(tmp_path / "report")
    (report_job / "results").mkdir()
    for _, checkout, _ in machines:
        for path in (checkout / "results").glob("*.json"):
            shutil.copy(path, report_job / "results" / path.name)
    result = merge_in("\n".join(pipeline["report"]["script"]), report_job)
    check_merged(reference, report_job / "all.json", report_job / "junit.xml", result)


def k8s_command(container, env, mounts):
    """The container's command as Kubernetes runs it: $(VAR) expanded from its env, then the
    volume paths mapped to where this test keeps them."""
    values = {e["name"]: str(e["value"]) for e in container.get("env", [])}
    values.update(env)
    argv = [re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), arg)
            for arg in container["command"]]
    for inside, outside in mounts.items():
        argv = [arg.replace(inside, str(outside)) for arg in argv]
    return argv, values


def test_kubernetes_indexed_job_then_merge_job(tmp_path, reference):
    shards_job, merge_job = list(yaml.safe_load_all(example("kubernetes")))
    spec = shards_job["spec"]
    assert spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    total = {e["name"]: e["value"] for e in container["env"]}["BULKHEAD_SHARD_TOTAL"]
    assert int(total) == spec["completions"] == SHARDS, "BULKHEAD_SHARD_TOTAL = completions"
    results = tmp_path / "volume"  # the shared volume
    results.mkdir()
    procs = []
    for index in range(SHARDS):
        image = make_suite(tmp_path / f"pod{index}")  # each pod: the image's /src
        argv, values = k8s_command(container, {"JOB_COMPLETION_INDEX": str(index)},
                                   {"/results": results})
        assert container["workingDir"] == "/src"
        procs.append(subprocess.Popen(argv, cwd=image, env=environment(values),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    for index, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out[-3000:]  # the pod completes; merge decides
        assert f"Kubernetes: JOB_COMPLETION_INDEX={index}, BULKHEAD_SHARD_TOTAL=4" in out, out
    assert sorted(p.name for p in results.iterdir()) == [f"shard-{i}.json" for i in range(4)]
    merge_container = merge_job["spec"]["template"]["spec"]["containers"][0]
    argv, values = k8s_command(merge_container, {}, {"/results": results})
    merge_pod = make_suite(tmp_path / "merge-pod")
    result = subprocess.run(argv, cwd=merge_pod, env=environment(values), capture_output=True,
                            text=True, timeout=120)
    check_merged(reference, results / "all.json", results / "junit.xml", result)
    assert "<html" in (results / "report.html").read_text()[:200].lower()


@pytest.mark.parametrize("flavour", ["circleci", "buildkite"])
def test_circleci_and_buildkite_variables(tmp_path, reference, flavour):
    if flavour == "circleci":
        command = re.search(r"- run: (bulkhead run .*)", DOCS.read_text()).group(1)
        env_of = lambda i: {"CIRCLE_NODE_INDEX": str(i), "CIRCLE_NODE_TOTAL": str(SHARDS)}
        label = "CircleCI: CIRCLE_NODE_INDEX={i}, CIRCLE_NODE_TOTAL=4"
    else:
        command = re.search(r"- command: (bulkhead run .*)", DOCS.read_text()).group(1)
        command = command.replace("$$", "$")  # Buildkite's escape for a shell variable
        env_of = lambda i: {"BUILDKITE_PARALLEL_JOB": str(i),
                            "BUILDKITE_PARALLEL_JOB_COUNT": str(SHARDS)}
        label = "Buildkite: BUILDKITE_PARALLEL_JOB={i}, BUILDKITE_PARALLEL_JOB_COUNT=4"
    results = tmp_path / "results"
    results.mkdir()
    machines = []
    for i in range(SHARDS):
        checkout = make_suite(tmp_path / f"machine{i}")
        machines.append((command, checkout, environment(env_of(i))))
    outputs = shard_results(run_together(machines))
    for i, ((_, checkout, _), (_, out)) in enumerate(zip(machines, outputs)):
        assert label.format(i=i) in out, out[-2000:]
        for path in (checkout / "results").glob("*.json"):
            shutil.copy(path, results / path.name)
    result = merge_in(f"bulkhead merge -o junit.xml --json all.json {results}/*.json", tmp_path)
    check_merged(reference, tmp_path / "all.json", tmp_path / "junit.xml", result)


def test_bazel_sh_test_wrapper_and_contract_files(tmp_path, reference):
    build = example("bazel-build")
    shard_count = int(re.search(r"shard_count = (\d+)", build).group(1))
    assert shard_count == SHARDS
    wrapper = tmp_path / "bulkhead_test.sh"
    wrapper.write_text(example("bazel-wrapper"))
    wrapper.chmod(0o755)
    runfiles = tmp_path / "runfiles"
    runfiles.mkdir()
    jobs, shards = [], []
    for index in range(SHARDS):
        workspace = f"ws{index}"
        make_suite(runfiles / workspace)
        shard_dir = tmp_path / f"testlogs/shard_{index + 1}_of_4"
        (shard_dir / "test.outputs").mkdir(parents=True)
        (shard_dir / "tmp").mkdir()
        env = environment({
            "TEST_SRCDIR": str(runfiles), "TEST_WORKSPACE": workspace,
            "TEST_SHARD_INDEX": str(index), "TEST_TOTAL_SHARDS": str(shard_count),
            "TEST_SHARD_STATUS_FILE": str(shard_dir / "sharding_status"),
            "XML_OUTPUT_FILE": str(shard_dir / "test.xml"),
            "TEST_TMPDIR": str(shard_dir / "tmp"),
            "TEST_PREMATURE_EXIT_FILE": str(shard_dir / "premature_exit"),
            "TEST_UNDECLARED_OUTPUTS_DIR": str(shard_dir / "test.outputs"),
            "BULKHEAD_KEEP_LOGS": "1",
        })
        jobs.append((str(wrapper), tmp_path, env))
        shards.append(shard_dir)
    outputs = shard_results(run_together(jobs))
    for index, (shard_dir, (_, out)) in enumerate(zip(shards, outputs)):
        assert f"Bazel: TEST_SHARD_INDEX={index}, TEST_TOTAL_SHARDS=4" in out, out[-2000:]
        assert (shard_dir / "sharding_status").exists(), "TEST_SHARD_STATUS_FILE touched"
        assert not (shard_dir / "premature_exit").exists(), "removed at a normal end"
        cases, _ = junit_cases(shard_dir / "test.xml")
        report = json.loads((shard_dir / "test.outputs" / "bulkhead.json").read_text())
        assert len(cases) == len(report["tests"]) > 0
        assert list((shard_dir / "tmp").glob("bulkhead-*/*/gw0.log")), "worker logs in TEST_TMPDIR"
    result = merge_in(f"bulkhead merge -o junit.xml --json all.json "
                      f"{tmp_path}/testlogs/shard_*_of_4/test.outputs/bulkhead.json", tmp_path)
    check_merged(reference, tmp_path / "all.json", tmp_path / "junit.xml", result)


def test_bazel_premature_exit_file_stays_when_bulkhead_is_killed(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_slow.py").write_text(
        "import sys, time\n\ndef test_slow():\n    print('SLOW-STARTED', flush=True)\n"
        "    time.sleep(60)\n")
    marker = tmp_path / "premature_exit"
    env = environment({"TEST_TOTAL_SHARDS": "1", "TEST_SHARD_INDEX": "0",
                       "TEST_PREMATURE_EXIT_FILE": str(marker)})
    proc = subprocess.Popen([BULKHEAD, "run", "-n", "1", "--shard", "auto", "-s", "-p",
                             "no:cacheprovider", "-p", "no:random_order"], cwd=suite, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_for_line(proc, "SLOW-STARTED")
    assert marker.exists()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert marker.exists(), "a bulkhead that died leaves it for Bazel to see"
    clean_up_after_kill(tmp_path)


def wait_for_line(proc, text, timeout=120):
    deadline = time.monotonic() + timeout
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return
        assert time.monotonic() < deadline, "".join(seen)[-2000:]
    raise AssertionError(f"'{text}' never printed:\n" + "".join(seen)[-3000:])


def clean_up_after_kill(tmp_path):
    """A SIGKILLed supervisor cannot remove its cgroups; the next run does (by design)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "test_one.py").write_text("def test_one():\n    pass\n")
    result = run_bulkhead("-n", "1", cwd=empty)
    assert result.returncode == 0, result.stdout[-2000:]


def kill_suite(root):
    """20 quick tests and one that waits: its shard is killed while it waits."""
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:randomly\n")
    (root / "test_quick.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('n', range(20))\ndef test_quick(n):\n"
        "    pass\n")
    (root / "test_wait.py").write_text(
        "import time\n\ndef test_wait():\n    print('WAIT-STARTED', flush=True)\n"
        "    time.sleep(120)\n")
    return root


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_killed_shard_is_named_with_its_tests(tmp_path, how):
    root = kill_suite(tmp_path / "suite")
    results = tmp_path / "results"
    results.mkdir()
    procs = []
    for shard in range(1, SHARDS + 1):
        env = environment({"CI_NODE_INDEX": str(shard), "CI_NODE_TOTAL": str(SHARDS)})
        procs.append(subprocess.Popen(
            [BULKHEAD, "run", "-n", "1", "--shard", "auto", "-s", "--json",
             str(results / f"shard-{shard}.json")], cwd=root, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True))
    # The shard holding test_wait is the one to kill; the others end by themselves.
    victim = None
    for shard, proc in enumerate(procs, 1):
        out = []
        for line in proc.stdout:
            out.append(line)
            if "WAIT-STARTED" in line:
                victim = shard
                break
        if victim == shard:
            os.killpg(proc.pid, getattr(signal, how))
            proc.communicate(timeout=60)
            break
        proc.wait(timeout=120)
    assert victim is not None
    for proc in procs:
        proc.wait(timeout=120)
    reports = sorted(str(p) for p in results.glob("*.json"))
    assert len(reports) == (SHARDS - 1 if how == "SIGKILL" else SHARDS)
    merged_path = tmp_path / "all.json"
    result = subprocess.run([BULKHEAD, "merge", "-o", str(tmp_path / "junit.xml"), "--json",
                             str(merged_path), *reports], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    merged = json.loads(merged_path.read_text())
    by_id = {t["nodeid"]: t for t in merged["tests"]}
    assert len(by_id) == 21, "every collected test once"
    missing = [t for t in merged["tests"] if t["outcome"] == "notrun"]
    assert "test_wait.py::test_wait" in {t["nodeid"] for t in missing}
    assert all(f"shard {victim}/4" in t["cause_message"] for t in missing), missing
    assert f"shard {victim}/4" in result.stdout, result.stdout
    if how == "SIGKILL":
        assert result.returncode == 1
        assert "reported nothing" in result.stdout
        # Every other test passed in its shard.
        assert all(t["outcome"] == "passed" for t in merged["tests"] if t not in missing)
        clean_up_after_kill(tmp_path)
    else:
        assert result.returncode == 2, "an interrupted shard: the exit status of one run"

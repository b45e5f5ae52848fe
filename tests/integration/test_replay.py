"""`bulkhead run --replay FILE --replay-worker gwN`: exactly the listed tests, in the listed
order, in one sandbox whose worker id is gwN (PYTEST_XDIST_WORKER, the worker count asked for,
the profile's env templates, the slot's --worker-setup); what a polluter leaves in that process
reaches its victim; unknown node ids and bad lists are named; the recorded run's reports can be
overridden (the last flag wins) and retries, stored durations and the run record stay off. In
zygote and spawn mode (`--zygote on|off`: with one worker, auto would spawn)."""
import json
import os

import pytest

from helpers import copy_suite, leaked_cgroups, run_bulkhead

POLLUTER = "test_global.py::test_global_polluter"
VICTIM = "test_global.py::test_global_victim"

# Each test appends where it ran to a write-through file, so the host sees the order.
WHERE_SUITE = {
    "pyproject.toml": '[tool.pytest-bulkhead]\nwrite_through = ["seen"]\n',
    "conftest.py": (
        "import os\n"
        "import pytest\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def _where(request):\n"
        "    os.makedirs('seen', exist_ok=True)\n"
        "    with open('seen/order', 'a') as f:\n"
        "        f.write(' '.join([request.node.nodeid, os.environ['PYTEST_XDIST_WORKER'],\n"
        "                          os.environ['PYTEST_XDIST_WORKER_COUNT'],\n"
        "                          os.environ.get('APP_DB', '-'), str(os.getpid())]) + '\\n')\n"),
    "test_a.py": "import pytest\n\n@pytest.mark.parametrize('n', range(6))\n"
                 "def test_a(n):\n    pass\n",
    "test_b.py": "def test_b():\n    pass\n",
    "profile.json": '{"extends": "default", "env": {"APP_DB": "app_{worker}_of_{worker_count}"}}\n',
}


def _where_suite(tmp_path):
    suite = tmp_path / "where"
    suite.mkdir()
    for name, text in WHERE_SUITE.items():
        (suite / name).write_text(text)
    return suite


def _list(path, *nodeids):
    path.write_text("# a replay list\n" + "\n".join(nodeids) + "\n\n")
    return str(path)


@pytest.mark.parametrize("zygote", ["on", "off"])  # forked from a zygote, or spawned
def test_replay_runs_exactly_the_list_in_order_in_one_sandbox_as_the_worker(tmp_path, zygote):
    suite = _where_suite(tmp_path)
    order = ["test_b.py::test_b", "test_a.py::test_a[4]", "test_a.py::test_a[0]",
             "test_a.py::test_a[2]"]
    replay = _list(tmp_path / "seq.txt", *order)
    result = run_bulkhead("--replay", replay, "--replay-worker", "gw3", "-n", "4", "--profile",
                          "profile.json", "--json", "r.json", "--worker-setup",
                          "echo {worker} {worker_index} {worker_count} >> setup.log",
                          "--zygote", zygote, cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout
    assert f"replaying 4 tests in order from {replay}" in result.stdout, result.stdout
    seen = [line.split() for line in (suite / "seen" / "order").read_text().splitlines()]
    assert [entry[0] for entry in seen] == order
    assert {tuple(entry[1:4]) for entry in seen} == {("gw3", "4", "app_gw3_of_4")}
    assert len({entry[4] for entry in seen}) == 1, seen  # one process: one sandbox
    assert (suite / "setup.log").read_text() == "gw3 3 4\n"  # the one slot's setup, as gw3
    report = json.loads((suite / "r.json").read_text())
    assert sorted(t["nodeid"] for t in report["tests"]) == sorted(order)
    assert {t["worker"] for t in report["tests"]} == {"gw3"}
    assert leaked_cgroups() == []


def test_replay_worker_count_is_at_least_the_worker_number_plus_one(tmp_path):
    suite = _where_suite(tmp_path)
    replay = _list(tmp_path / "seq.txt", "test_b.py::test_b")
    result = run_bulkhead("--replay", replay, "--replay-worker", "gw5", "-n", "2", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (suite / "seen" / "order").read_text().split()[1:3] == ["gw5", "6"]


@pytest.mark.parametrize("zygote", ["on", "off"])
def test_a_polluter_replayed_before_its_victim_makes_it_fail(tmp_path, zygote):
    suite = copy_suite("diagnose", tmp_path)
    together = _list(tmp_path / "together.txt", POLLUTER, VICTIM)
    # The recorded run's own reports are overridden (the last flag wins), retries stay off.
    env = dict(os.environ)
    env.pop("BULKHEAD_RECORD_DIR", None)  # where a record would go: the suite's .bulkhead/runs
    result = run_bulkhead("--json", "first.json", "--junitxml", "first.xml", "--retries", "2",
                          "--store-durations", "--replay", together, "--json", "replay.json",
                          "--junitxml", "", "--zygote", zygote, cwd=suite, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "cache left filled" in result.stdout
    assert "retries" not in result.stdout
    assert not (tmp_path / "diagnose" / "first.json").exists()
    assert not (tmp_path / "diagnose" / "first.xml").exists()
    assert not (tmp_path / "diagnose" / ".test_durations").exists()
    assert not (tmp_path / "diagnose" / ".bulkhead" / "runs").exists()  # no run record
    report = json.loads((tmp_path / "diagnose" / "replay.json").read_text())
    outcomes = {t["nodeid"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {POLLUTER: "passed", VICTIM: "failed"}
    assert {t["worker"] for t in report["tests"]} == {"gw0"}

    alone = _list(tmp_path / "alone.txt", VICTIM)
    result = run_bulkhead("--replay", alone, "--zygote", zygote, cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert leaked_cgroups() == []


def test_unknown_node_ids_are_named(tmp_path):
    suite = copy_suite("diagnose", tmp_path)
    replay = _list(tmp_path / "seq.txt", POLLUTER, "test_global.py::test_gone",
                   "test_nothere.py::test_x")
    result = run_bulkhead("--replay", replay, cwd=suite)
    assert result.returncode == 4, result.stdout + result.stderr
    assert (f"{replay}: 2 of 3 node ids were not collected (renamed, deselected, or another "
            "rootdir?):\n  test_global.py::test_gone\n  test_nothere.py::test_x") in result.stderr
    assert leaked_cgroups() == []


def test_bad_lists_and_worker_ids_are_named(tmp_path):
    suite = copy_suite("diagnose", tmp_path)
    twice = _list(tmp_path / "twice.txt", POLLUTER, VICTIM, POLLUTER)
    empty = _list(tmp_path / "empty.txt")
    missing = str(tmp_path / "missing.txt")
    good = _list(tmp_path / "good.txt", POLLUTER)
    cases = [
        (["--replay", twice], f"{twice}:4: {POLLUTER} is listed twice (first on line 2)"),
        (["--replay", empty], f"{empty}: lists no node id"),
        (["--replay", missing], f"{missing}: cannot read the replay list"),
        (["--replay", good, "--replay-worker", "worker3"],
         "--replay-worker: expected a worker id like gw0"),
        (["--replay-worker", "gw1"], "--replay-worker names the worker of a --replay"),
    ]
    for args, message in cases:
        result = run_bulkhead(*args, cwd=suite)
        assert result.returncode == 4 and message in result.stderr, (args, result.stderr)
    assert not os.path.exists(os.path.join(suite, ".test_durations"))

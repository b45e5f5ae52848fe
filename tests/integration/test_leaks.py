"""Leak checks per test (--leaks): each leaker of the leaks suite is named in the terminal's
LEAKED line, the JSON report and the JUnit properties; clean tests (a module fixture's thread,
a joined thread, pytest's tmp_path, monkeypatch, a thread that ends during the next test)
report none; --leaks fail turns a leak into a teardown error; --leaks off checks nothing."""
import json
import re
import xml.etree.ElementTree as ET

import pytest

from helpers import copy_suite, leaked_cgroups, run_bulkhead

EXPECTED = {
    "test_d_thread": r"^thread 'leaky-thread' \(\d+\)$",
    "test_f_process": r"^process \d+ `sleep 5`$",
    "test_g_tmp_file": r"^file /tmp/leaky-\w+$",
    "test_h_listening_tcp": r"^listening socket tcp 127\.0\.0\.1:\d+ \(fd \d+\)$",
    "test_h_listening_unix": r"^listening socket unix @bulkhead-leaky\.sock \(fd \d+\)$",
    "test_i_environ": r"^os\.environ\['BULKHEAD_LEAKY_VAR'\] set$",
    "test_j_fd": r"^fd \d+ \(\S+/test_leaks\.py\)$",
    "test_n_fd_again": r"^fd \d+ \(\S+/test_leaks\.py\)$",
}
CLEAN = ["test_a_clean", "test_b_module_fixture_thread", "test_c_joined_thread",
         "test_e_after_thread", "test_k_monkeypatched_env", "test_l_clean_after",
         "test_m_closes_what_others_left", "test_o_class_fixture_outside_a_class",
         "test_p1_class_fixture", "test_p2_class_fixture"]


def _name(nodeid):
    return nodeid.split("::")[-1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_each_leak_is_named_and_clean_tests_report_none(tmp_path, workers):
    suite = copy_suite("leaks", tmp_path)
    # pytest's tmp_path base under /tmp (--basetemp here: the suite itself lies in the default
    # one, which the sandbox shows as another user's) is pytest's, not the first user's leak.
    result = run_bulkhead("-n", workers, "--json", "r.json", "--junitxml", "r.xml",
                          "--basetemp", "/tmp/bulkhead-leaks-base", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr  # warn: the run passes
    assert "18 passed" in result.stdout
    assert "files opened during collection" not in result.stdout  # the check keeps the zygote

    leaked_lines = {}
    for line in result.stdout.splitlines():
        if line.startswith("LEAKED "):
            nodeid, _, what = line[len("LEAKED "):].partition(" - ")
            leaked_lines[_name(nodeid)] = what
    assert sorted(leaked_lines) == sorted(EXPECTED), result.stdout
    for name, pattern in EXPECTED.items():
        assert re.match(pattern, leaked_lines[name]), (name, leaked_lines[name])

    report = json.loads((tmp_path / "leaks" / "r.json").read_text())
    by_name = {_name(t["nodeid"]): t["leaks"] for t in report["tests"]}
    for name, pattern in EXPECTED.items():
        assert len(by_name[name]) == 1 and re.match(pattern, by_name[name][0]), by_name[name]
    for name in CLEAN:
        assert by_name[name] == [], (name, by_name[name])

    junit = ET.parse(tmp_path / "leaks" / "r.xml")
    properties = {}
    for case in junit.iter("testcase"):
        properties[case.get("name")] = [p.get("value") for p in case.iter("property")
                                        if p.get("name") == "bulkhead_leaked"]
    for name, pattern in EXPECTED.items():
        assert len(properties[name]) == 1 and re.match(pattern, properties[name][0])
    for name in CLEAN:
        assert properties[name] == []
    assert leaked_cgroups() == []


def test_leaks_fail_makes_each_leaker_error_at_teardown(tmp_path):
    suite = copy_suite("leaks", tmp_path)
    result = run_bulkhead("-n", "2", "--leaks", "fail", "--basetemp", "/tmp/leaks-base",
                          cwd=suite)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "18 passed, 8 errors" in result.stdout
    errors = {_name(m) for m in re.findall(r"^ERROR (\S+) - bulkhead: LEAKED", result.stdout,
                                           re.M)}
    assert errors == set(EXPECTED), result.stdout


def test_leaks_off_checks_nothing(tmp_path):
    suite = copy_suite("leaks", tmp_path)
    result = run_bulkhead("-n", "1", "--leaks", "off", "--json", "r.json", "--basetemp",
                          "/tmp/leaks-base", cwd=suite)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LEAKED" not in result.stdout
    report = json.loads((tmp_path / "leaks" / "r.json").read_text())
    assert all(t["leaks"] == [] for t in report["tests"])


def test_bad_leaks_value_is_named(tmp_path):
    suite = copy_suite("leaks", tmp_path)
    result = run_bulkhead("--leaks", "loud", cwd=suite)
    assert result.returncode == 4
    assert "--leaks" in result.stderr and "loud" in result.stderr, result.stderr

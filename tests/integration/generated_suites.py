"""Generated suites with known test durations, for the shard and scheduling tests and for
bench/shards: each test sleeps or burns CPU for a set time, so what a run should take is known.
"""
import os

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:randomly\n"

HEADER = '''import time


def burn(seconds):
    """Busy on the CPU for `seconds` of this thread's CPU time."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def sleep(seconds):
    time.sleep(seconds)
'''


def write_suite(root, modules, kind="sleep", ini=INI):
    """Writes `modules` ({"test_a.py": [seconds, ...]}) under `root`: one test per duration,
    named test_<n>_<ms>ms, each calling sleep() or burn(). Returns {nodeid: seconds}."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "pytest.ini"), "w") as f:
        f.write(ini)
    with open(os.path.join(root, "conftest.py"), "w") as f:
        f.write("")
    expected = {}
    for name, durations in modules.items():
        lines = [HEADER]
        for n, seconds in enumerate(durations):
            test = f"test_{n:03d}_{int(round(seconds * 1000))}ms"
            lines.append(f"\n\ndef {test}():\n    {kind}({seconds!r})\n")
            expected[f"{name}::{test}"] = seconds
        with open(os.path.join(root, name), "w") as f:
            f.write("".join(lines))
    return expected


def skewed(long_tests=6, long_s=2.0, short_tests=300, short_s=0.01, files=10):
    """A few long tests among many short ones, the long ones spread over the files."""
    modules = {f"test_m{f:02d}.py": [] for f in range(files)}
    names = list(modules)
    for i in range(short_tests):
        modules[names[i % files]].append(short_s)
    for i in range(long_tests):
        modules[names[(i * 3) % files]].insert(i % 4, long_s)
    return modules


def clustered(heavy_tests=30, heavy_s=0.3, light_tests=170, light_s=0.02, files=10):
    """The heavy tests all in the first file (as a property-test module next to fast unit
    tests): a scheduler handing out tests by count gives one worker all of them."""
    modules = {"test_a_heavy.py": [heavy_s] * heavy_tests}
    for f in range(files - 1):
        modules[f"test_b{f:02d}.py"] = [light_s] * (light_tests // (files - 1))
    return modules


def polluted_sequence(root, tests, polluters):
    """A suite for `bulkhead bisect`: test_steps.py::test_step[0..tests-1] then
    test_victim.py::test_victim, which fails when every step in `polluters` ran before it in its
    process (each sets a module global). Run with -n 1, the sandbox's sequence is all the steps
    in order, then the victim. Returns (the victim's node id, the polluters' node ids)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "pyproject.toml"), "w") as f:
        f.write('[tool.pytest.ini_options]\n'
                'addopts = "-p no:cacheprovider -p no:randomly -p no:random_order"\n')
    with open(os.path.join(root, "sequence_state.py"), "w") as f:
        f.write("SET = set()\n")
    with open(os.path.join(root, "test_steps.py"), "w") as f:
        f.write("import pytest\n\nimport sequence_state\n\nPOLLUTERS = %r\n\n\n"
                "@pytest.mark.parametrize('n', range(%d))\n"
                "def test_step(n):\n"
                "    if n in POLLUTERS:\n"
                "        sequence_state.SET.add(n)\n" % (sorted(polluters), tests))
    with open(os.path.join(root, "test_victim.py"), "w") as f:
        f.write("import sequence_state\n\n\n"
                "def test_victim():\n"
                "    assert not set(%r) <= sequence_state.SET, 'polluted'\n" % sorted(polluters))
    return ("test_victim.py::test_victim",
            ["test_steps.py::test_step[%d]" % n for n in sorted(polluters)])

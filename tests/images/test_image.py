"""`--image dir:PATH` on the Debian root built by images/build-debian.sh (make test-image):
the sandbox's / is the image, read-only, with the host's project, $HOME and bulkhead's plugin
laid over it; `bulkhead run` probes and uses the image's Python."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from helpers import BULKHEAD, closing_counts, leaked_cgroups, run_bulkhead  # noqa: E402

IMAGE = os.environ.get("BULKHEAD_IMAGE", "")
pytestmark = pytest.mark.skipif(not IMAGE, reason="BULKHEAD_IMAGE not set (make test-image)")
NO_PLUGINS = ["-p", "no:rerunfailures", "-p", "no:random_order"]


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert leaked_cgroups() == []


def in_image(*command, cwd="/", extra=()):
    return subprocess.run([BULKHEAD, "exec", "--image", f"dir:{IMAGE}", *extra, "--", *command],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_root_is_the_image_read_only():
    stamp = open(os.path.join(IMAGE, "etc", "bulkhead-image")).read().strip()
    result = in_image("sh", "-c", "cat /etc/bulkhead-image; "
                      "test -e /usr/bin/cmake && echo host-tools-visible; "
                      "touch /usr/bulkhead-probe 2>/dev/null && echo root-writable; "
                      "echo tmp > /tmp/x && cat /tmp/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [stamp, "tmp"], result.stdout
    assert not os.path.exists(os.path.join(IMAGE, "usr", "bulkhead-probe"))


def test_project_is_the_hosts_and_writes_stay_in_the_sandbox(tmp_path):
    (tmp_path / "data.txt").write_text("from the host\n")
    result = in_image("sh", "-c", "cat data.txt; echo changed > data.txt; cat data.txt",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from", "the", "host", "changed"]
    assert (tmp_path / "data.txt").read_text() == "from the host\n"


def test_run_uses_the_images_python_and_passes(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_in_image.py").write_text(
        "import os, sys\n"
        "def test_root_is_the_image():\n"
        "    assert os.path.exists('/etc/bulkhead-image')\n"
        "def test_python_is_the_images():\n"
        "    assert sys.executable.startswith('/usr/bin/python3')\n"
        "def test_worker_env():\n"
        "    assert os.environ['PYTEST_XDIST_WORKER'].startswith('gw')\n")
    result = run_bulkhead("-n", "2", "--image", f"dir:{IMAGE}", *NO_PLUGINS, cwd=suite,
                          python="/usr/bin/python3")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert closing_counts(result.stdout) == "3 passed"


def test_bad_image_values_are_named(tmp_path):
    for value, words in [("nonsense", "expected dir:PATH"),
                         (f"dir:{tmp_path}/missing", "is not a directory"),
                         (f"dir:{tmp_path}", "has no usr/")]:
        result = run_bulkhead("--image", value, cwd=tmp_path)
        assert result.returncode == 4, (value, result.stderr)
        assert f"--image: " in result.stderr and words in result.stderr, (value, result.stderr)
        result = subprocess.run([BULKHEAD, "exec", "--image", value, "--", "true"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 125 and words in result.stderr, (value, result.stderr)

import multiprocessing
import os
import subprocess
import sys

import shapes.generated
from shapes import classify
from shapes.util import clamp, only_in_a_child_process

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


def test_classify():
    assert classify(-1) == "negative"
    assert classify(0) == "zero"


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert shapes.generated.left_out_by_the_coveragerc() == 1


def test_subprocess_is_measured():
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    code = "import shapes.util; print(shapes.util.only_in_a_subprocess())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "subprocess" in out.stdout, out.stderr


def test_child_process_is_measured():
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=only_in_a_child_process, args=(queue,))
    child.start()
    assert "multiprocessing" in queue.get(timeout=60)
    child.join(60)

"""Fails on its first attempt and passes on every later one: the attempt count is kept in
state/ (bound read-write with --write-through state, so it outlives each sandbox)."""
import pathlib

COUNTER = pathlib.Path(__file__).parent / "state" / "flaky_count"


def test_flaky():
    count = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(count + 1))
    assert count > 0, "first attempt fails"

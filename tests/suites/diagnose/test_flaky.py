"""A flaky test: it fails on its first attempt and passes after. The attempt counter is a file
in flaky_state/, a write-through directory (pyproject.toml): it outlives the sandbox."""
from pathlib import Path

COUNTER = Path(__file__).parent / "flaky_state" / "attempts"


def test_flaky():
    COUNTER.parent.mkdir(exist_ok=True)
    attempts = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(attempts + 1))
    assert attempts > 0, "first attempt fails"

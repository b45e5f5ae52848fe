"""An order-dependent failure: test_victim passes alone, and fails after test_polluter (which
runs before it in the same sandbox: same file, --dist loadfile) changed a module global."""
import polluted_state


def test_polluter():
    polluted_state.CACHE["user"] = "stale"


def test_between():
    assert True


def test_victim():
    assert "user" not in polluted_state.CACHE, "a test before this one left CACHE filled"

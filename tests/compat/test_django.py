"""pytest-django: each worker gets its own test database (`test_db.sqlite3_gw0`, `_gw1`),
created and destroyed by pytest-django itself, as under `pytest -n 2`. Under bulkhead the
databases' directory is written through to the host (--write-through), so both their creation
(each test leaves a note beside its database) and their removal are seen here, on the host."""
from compat import require, run_each


def test_a_database_per_worker_created_and_destroyed(tmp_path):
    require("pytest_django", "django", "xdist")
    runs = run_each(tmp_path, "django", options=("--write-through", "dbs"))
    bulkhead = runs["bulkhead"]
    assert bulkhead.returncode == 0, bulkhead
    assert bulkhead.outcomes == runs["xdist"].outcomes == runs["pytest"].outcomes, runs
    assert len(bulkhead.outcomes) == 6
    assert "write-through: dbs" in bulkhead.out
    for runner, result in runs.items():
        left = sorted(path.name for path in (result.suite / "dbs").iterdir())
        workers = ["seen-master"] if runner == "pytest" else ["seen-gw0", "seen-gw1"]
        assert left == [".keep"] + workers, (runner, left)  # the databases are gone
        assert not (result.suite / "db.sqlite3").exists()
    notes = {(bulkhead.suite / "dbs" / name).read_text() for name in ("seen-gw0", "seen-gw1")}
    assert notes == {"test_db.sqlite3_gw0", "test_db.sqlite3_gw1"}

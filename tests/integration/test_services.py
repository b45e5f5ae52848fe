"""Per-worker databases with a real PostgreSQL and Redis: each worker's database is its own, kept
by its replacement, and dropped however the run ends (crash, timeout, -x, --session-timeout,
SIGINT, SIGTERM): `psql -l` shows none left. The recipes, and the services example as a new
user runs it. (Setup commands without servers: test_setup_commands.py.)"""
import os
import signal
import subprocess
import time

import pytest

from helpers import SOURCE_DIR, leaked_cgroups
from services_support import databases, psql, run, servers, start, suite  # noqa: F401 (servers: a fixture)

EXAMPLE = os.path.join(SOURCE_DIR, "examples", "services")
WORKER_DB = [
    "--forward", "auto",
    "--worker-setup", f"sh {EXAMPLE}/worker-setup.sh",
    "--worker-teardown", f"sh {EXAMPLE}/worker-teardown.sh",
]


def worker_databases(settings):
    return [name for name in databases(settings) if name.startswith("app_")]


def service_env(settings):
    return {"DATABASE_URL": settings["DATABASE_URL"], "REDIS_URL": settings["REDIS_URL"]}


# -- with PostgreSQL and Redis -------------------------------------------------------------------

def test_each_worker_has_its_own_database_and_nothing_is_left(tmp_path, servers):
    suite(tmp_path, """
        import os, psycopg2, pytest, redis, time
        @pytest.mark.parametrize("i", range(6))
        def test_mine(i):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            db = psycopg2.connect(os.environ["DATABASE_URL"])
            db.autocommit = True
            with db.cursor() as c:
                c.execute("SELECT current_database()")
                assert c.fetchone()[0] == "app_" + worker
                c.execute("CREATE TABLE IF NOT EXISTS marks (owner text)")
                c.execute("INSERT INTO marks VALUES (%s)", (worker,))
                time.sleep(0.2)
                c.execute("SELECT DISTINCT owner FROM marks")
                assert c.fetchall() == [(worker,)]
            r = redis.Redis.from_url(os.environ["REDIS_URL"])
            assert r.connection_pool.connection_kwargs["db"] == int(worker[2:]) + 1
            r.sadd("workers", worker)
            assert r.smembers("workers") == {worker.encode()}
    """)
    result = run(["-n", "2", *WORKER_DB], cwd=tmp_path, env=service_env(servers))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
    assert "(auto: DATABASE_URL)" in result.stdout and "(auto: REDIS_URL)" in result.stdout
    assert worker_databases(servers) == []
    assert not leaked_cgroups()


CRASH = """
    import os, psycopg2, signal
    def rows():
        db = psycopg2.connect(os.environ["DATABASE_URL"])
        db.autocommit = True
        return db, db.cursor()
    def test_a_writes():
        db, c = rows()
        c.execute("CREATE TABLE kept (v text)")
        c.execute("INSERT INTO kept VALUES ('before the crash')")
    def test_b_crashes_with_a_session_open():
        db, c = rows()
        c.execute("SELECT 1")
        os.kill(os.getpid(), signal.SIGKILL)
    def test_c_the_replacement_has_the_same_database():
        db, c = rows()
        c.execute("SELECT v FROM kept")
        assert c.fetchall() == [("before the crash",)]
"""


def test_teardown_after_a_crash_and_the_replacement_keeps_the_database(tmp_path, servers):
    suite(tmp_path, CRASH)
    result = run(["-n", "1", *WORKER_DB], cwd=tmp_path, env=service_env(servers))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout
    assert worker_databases(servers) == []


@pytest.mark.parametrize("how", ["timeout", "maxfail", "session-timeout"])
def test_teardown_however_the_run_stops(tmp_path, servers, how):
    suite(tmp_path, """
        import time
        def test_fails(): assert False
        def test_sleeps(): time.sleep(60)
    """)
    options = {"timeout": ["--timeout", "2"], "maxfail": ["-x"],
               "session-timeout": ["--session-timeout", "4"]}[how]
    expected = {"timeout": 1, "maxfail": 1, "session-timeout": 2}[how]
    result = run(["-n", "2", *WORKER_DB, *options], cwd=tmp_path, env=service_env(servers))
    assert result.returncode == expected, result.stdout + result.stderr
    assert worker_databases(servers) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_teardown_after_a_signal(tmp_path, servers, sig):
    suite(tmp_path, """
        import os, psycopg2, time
        def test_running():
            db = psycopg2.connect(os.environ["DATABASE_URL"])
            db.autocommit = True
            db.cursor().execute("CREATE TABLE running (v int)")
            time.sleep(60)
    """)
    process = start(["-n", "1", *WORKER_DB], cwd=tmp_path, env=service_env(servers))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "app_gw0" in databases(servers) and "running" in psql(
                    servers, "SELECT tablename FROM pg_tables", database="app_gw0"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the test never started")
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2, out + err
    assert worker_databases(servers) == []


def test_the_services_example_as_a_new_user_runs_it():
    """examples/services: collides under pytest -n 2, passes under bulkhead run -n 2 with only
    its pyproject.toml, and leaves no database behind (the demo starts its own servers)."""
    result = subprocess.run([os.path.join(EXAMPLE, "demo.sh"), os.environ.get("BULKHEAD", "")],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo: OK" in result.stdout


RECIPE_SUITE = """
    import os, psycopg2, redis
    def test_recipe():
        worker = os.environ["PYTEST_XDIST_WORKER"]
        db = psycopg2.connect(os.environ["DATABASE_URL"])
        with db.cursor() as c:
            c.execute("SELECT current_database()")
            name = c.fetchone()[0]
        r = redis.Redis.from_url(os.environ["REDIS_URL"])
        r.set("k", worker)
        print("RECIPE", worker, name, r.connection_pool.connection_kwargs["db"])
    test_1 = test_2 = test_3 = test_4 = test_5 = test_recipe
"""


@pytest.mark.parametrize("recipe", ["postgres", "redis", "django"])
def test_recipes(tmp_path, servers, recipe):
    """examples/services/recipes/*.json, as a user would pass them with --profile."""
    suite(tmp_path, RECIPE_SUITE)
    psql(servers, "DROP DATABASE IF EXISTS test_app_gw0")
    psql(servers, "CREATE DATABASE test_app_gw0")  # as a killed pytest-django worker leaves
    result = run(["-n", "2", "-s", "--profile", f"{EXAMPLE}/recipes/{recipe}.json"],
                 cwd=tmp_path, env=service_env(servers))
    assert result.returncode == 0, result.stdout + result.stderr
    seen = sorted(line.split()[-3:] for line in result.stdout.splitlines() if "RECIPE" in line)
    expected_db = {"postgres": "app_{}", "redis": "app", "django": "app"}[recipe]
    expected_index = {"postgres": "0", "redis": "{}", "django": "0"}[recipe]
    for worker, name, index in seen:
        i = int(worker[2:])
        assert name == expected_db.format(worker), seen
        assert index == expected_index.format(i + 1), seen
    assert len(seen) == 6
    assert worker_databases(servers) == []
    assert ("test_app_gw0" in databases(servers)) == (recipe != "django")
    psql(servers, "DROP DATABASE IF EXISTS test_app_gw0")

"""The services example: tests that share a PostgreSQL database and a Redis database.

Each worker, before its first test, writes one value of its own to the table `items` in the
database DATABASE_URL names and to a set in the Redis db REDIS_URL names, then waits for every
other worker to have done the same (a rendezvous, see `meet`); it removes its values after its
last test, once every worker is done. test_database_and_cache checks that its worker's values
are the only ones. Run alone (plain `pytest`) everything passes. Under `pytest -n 2` both workers
write to the one database and the one Redis db, so each test_database_and_cache finds the other
worker's values: every one of them fails, whatever the timing. Under `bulkhead run -n 2` (see
pyproject.toml) each worker has a database copied from DATABASE_URL's and a Redis db of its own,
reached through forwarded ports, and all pass.

The rendezvous goes through the Redis server itself (db RENDEZVOUS_DB, keys named after the
run), which both runners let every worker reach: it only makes the workers overlap, it is not
the shared state under test.

The Django tests pass under pytest-xdist too (pytest-django gives each xdist worker its own
test_<name>_gw<i> database); under bulkhead they pass once the port is forwarded.
"""
import os
import time
import uuid
from urllib.parse import unquote, urlsplit

import psycopg2
import pytest
import redis

RENDEZVOUS_DB = 15  # a Redis db no worker uses for data
RENDEZVOUS_TIMEOUT = 120.0  # seconds; only a worker that died keeps the others waiting this long


def meet(step):
    """Waits until every worker of this run (PYTEST_XDIST_WORKER_COUNT) has reached `step`."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if count <= 1:
        return
    url = urlsplit(os.environ["REDIS_URL"])
    server = redis.Redis(host=url.hostname or "localhost", port=url.port or 6379,
                         password=unquote(url.password) if url.password else None,
                         db=RENDEZVOUS_DB)
    key = f"services-example:{os.environ.get('PYTEST_XDIST_TESTRUNUID', 'run')}:{step}"
    try:
        # A set of worker names: a worker started again after a crash counts once.
        server.sadd(key, os.environ.get("PYTEST_XDIST_WORKER", "main"))
        server.expire(key, int(RENDEZVOUS_TIMEOUT) * 2)
        deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
        while (arrived := server.scard(key)) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"rendezvous '{step}': {arrived} of {count} workers arrived in "
                            f"{RENDEZVOUS_TIMEOUT:.0f} s")
            time.sleep(0.02)
    finally:
        server.close()


@pytest.fixture(scope="session", autouse=True)
def mine():
    """This worker's value, in the table and in the Redis set from its first test to its last."""
    value = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{uuid.uuid4().hex[:8]}"
    db = psycopg2.connect(os.environ["DATABASE_URL"])
    db.autocommit = True
    cache = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO items (owner) VALUES (%s)", (value,))
        cache.sadd("owners", value)
        meet("written")
        yield value
        meet("done")
    finally:
        with db.cursor() as cursor:
            cursor.execute("DELETE FROM items WHERE owner = %s", (value,))
        cache.srem("owners", value)
        db.close()
        cache.close()


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["a", "b", "c", "d"])
def test_django(case, mine):
    from demoapp.models import Note

    Note.objects.create(text=f"{case}-{mine}")
    assert Note.objects.count() == 1


@pytest.mark.parametrize("case", ["a", "b", "c", "d"])
def test_database_and_cache(case, mine):
    """The table and the Redis set hold this worker's value and nothing else."""
    db = psycopg2.connect(os.environ["DATABASE_URL"])
    cache = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT owner FROM items ORDER BY owner")
            owners = [row[0] for row in cursor.fetchall()]
        assert owners == [mine], f"another worker wrote to this database: {owners}"
        members = sorted(m.decode() for m in cache.smembers("owners"))
        assert members == [mine], f"another worker wrote to this Redis db: {members}"
    finally:
        db.close()
        cache.close()

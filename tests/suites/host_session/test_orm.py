import os

import pytest


@pytest.mark.parametrize("n", range(6))
def test_uses_the_workers_database(orm_db, n):
    name, worker_id = orm_db
    if not os.environ.get("HOST_SESSION_MODE"):
        assert name == "orm_" + worker_id

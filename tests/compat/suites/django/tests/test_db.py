import os

import pytest
from django.contrib.auth.models import User
from django.db import connection


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["ada", "brian", "carol", "dennis", "edsger", "frances"])
def test_each_worker_has_its_own_database(worker_id, name):
    database = connection.settings_dict["NAME"]
    expected = "test_db.sqlite3" if worker_id == "master" else "test_db.sqlite3_" + worker_id
    assert os.path.basename(database) == expected
    assert os.path.exists(database), "pytest-django did not create " + database
    User.objects.create(username=name)
    assert list(User.objects.values_list("username", flat=True)) == [name]
    # A note beside the database: seen on the host after the run (its directory is written
    # through under bulkhead), while the database itself is gone by then.
    with open(os.path.join(os.path.dirname(database), "seen-" + worker_id), "w") as note:
        note.write(os.path.basename(database))

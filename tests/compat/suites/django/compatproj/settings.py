from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "compat-suite-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # pytest-django makes the test database, with a _gw<i> suffix per worker, and removes
        # it at the end. dbs/ is written through to the host under bulkhead (--write-through).
        "TEST": {"NAME": str(BASE_DIR / "dbs" / "test_db.sqlite3")},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

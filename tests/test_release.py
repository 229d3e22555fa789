"""`python -m docqa.release`, for real: two runs started at once against a fresh, empty database
(what N replicas or two deploying hosts do) both succeed, and the migrations and the first admin
are applied exactly once, because the second run waits on the advisory lock."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.db.migrations.loader import MigrationLoader

from tests.conftest import test_database_url as database_url

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh_database_url(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    with django_db_blocker.unblock():
        base = database_url()
    name = f"docqa_release_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_release_runs_at_once_apply_the_migrations_and_the_admin_once(fresh_database_url):
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DOCQA_ADMIN_EMAIL": "first-admin@example.com",
        "DOCQA_ADMIN_PASSWORD": "release-admin-password-42",
    }
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "docqa.release"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180)[0].decode() for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-4000:]
        assert "[release] done." in output
        assert env["DOCQA_ADMIN_PASSWORD"] not in output

    # They overlapped (one waited for the other), and only one of them did the work.
    assert sum("another release run holds the lock; waiting" in o for o in outputs) == 1
    assert sum("Applying accounts.0001_initial... OK" in o for o in outputs) == 1
    assert sum("No migrations to apply." in o for o in outputs) == 1
    assert sum("Created admin account first-admin@example.com" in o for o in outputs) == 1

    on_disk = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    with psycopg.connect(fresh_database_url) as db:
        applied = db.execute("SELECT app, name FROM django_migrations").fetchall()
        admins = db.execute("SELECT email FROM accounts_user WHERE is_superuser").fetchall()
    assert len(applied) == len(set(applied))  # none recorded twice
    assert set(applied) >= on_disk
    assert admins == [("first-admin@example.com",)]


def test_a_release_run_on_a_migrated_database_is_a_quick_no_op(fresh_database_url):
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DOCQA_ADMIN_PASSWORD": "release-admin-password-42",
    }
    release = [sys.executable, "-m", "docqa.release"]
    first = subprocess.run(release, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    again = subprocess.run(release, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No migrations to apply." in again.stdout
    assert "Created admin account" not in again.stdout
    assert "waiting" not in again.stdout

"""Shared fixtures: users and workspaces in each role, and a real Celery worker process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connection

from apps.accounts.models import User
from apps.accounts.services import register_user
from apps.documents.text_cache import text_cache
from apps.workspaces.models import Membership, Role, Workspace
from apps.workspaces.services import create_workspace
from docqa.processes import work
from tests.browser import browser_page, live_app  # noqa: F401  (fixtures for every test)
from tests.oidc import oidc, oidc_server  # noqa: F401  (fixtures for every test)
from tests.provider import (  # noqa: F401  (fixtures for every test)
    async_provider,
    emulator,
    emulator_server,
    provider,
    provider_settings,
)
from tests.redis_server import throwaway_redis  # noqa: F401  (a fixture for every test)

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    """Each test starts with an empty cache (login throttles, admission counters), and with
    no document texts kept in the process from an earlier test."""
    cache.clear()
    text_cache.clear()


def make_user(email: str, name: str = "") -> User:
    return register_user(email=email, password=PASSWORD, display_name=name)


@pytest.fixture
def owner(db) -> User:
    return make_user("owner@example.com", "Olivia Owner")


@pytest.fixture
def team(owner: User) -> Workspace:
    return create_workspace(owner=owner, name="Research Team")


def add_member(workspace: Workspace, email: str, role: Role) -> User:
    user = make_user(email)
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def viewer(team: Workspace) -> User:
    return add_member(team, "viewer@example.com", Role.VIEWER)


@pytest.fixture
def member(team: Workspace) -> User:
    return add_member(team, "member@example.com", Role.MEMBER)


@pytest.fixture
def outsider(db) -> User:
    return make_user("outsider@example.com", "Oscar Outsider")


def test_database_url() -> str:
    """DATABASE_URL pointing at the test database pytest-django created."""
    s = connection.settings_dict
    host = quote(s["HOST"], safe="") if s["HOST"].startswith("/") else s["HOST"]
    port = f":{s['PORT']}" if s["PORT"] else ""
    password = f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{host}{port}/{s['NAME']}"


@contextmanager
def running_celery_worker(
    settings_module: str = "tests.settings", *, concurrency: int = 2
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a real `celery worker` process on the test database and the test Redis database.

    ``settings_module`` lets a test run the worker with extra test-only wiring (e.g. a reader
    that kills its process, to exercise redelivery).
    """
    from django.conf import settings

    env = {
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": settings_module,
    }
    log_path = BASE_DIR / "var" / "test-celery-worker.log"
    name = f"test-{os.getpid()}@%h"
    with work(env, log_path=log_path, concurrency=concurrency, name=name) as proc:
        yield proc


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the test database and the test Redis database."""
    with running_celery_worker() as proc:
        yield proc

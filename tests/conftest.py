"""Shared fixtures: users and workspaces in each role, and a real Celery worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
from tests.browser import browser_page, live_app  # noqa: F401  (fixtures for every test)
from tests.provider import (  # noqa: F401  (fixtures for every test)
    async_provider,
    emulator,
    emulator_server,
    provider,
    provider_settings,
)

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

    from docqa.celery import app

    app.control.purge()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": settings_module,
    }
    log = open(BASE_DIR / "var" / "test-celery-worker.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "docqa",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        env=env,
        cwd=BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            break
        if proc.poll() is not None:
            raise RuntimeError("celery worker exited during start; see var/test-celery-worker.log")
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        raise RuntimeError("celery worker did not answer ping within 30 s")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the test database and the test Redis database."""
    with running_celery_worker() as proc:
        yield proc

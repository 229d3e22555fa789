"""Browser-test fixtures: the app under uvicorn on the test database, and a Chromium page.

`live_app` runs the real ASGI stack in a subprocess (like `make run`), pointed at the test
database and test Redis, with a real Celery worker beside it; `browser_page` drives Debian's
Chromium through Playwright. Both are registered in tests/conftest.py for every test to use.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS = BASE_DIR / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def live_app(transactional_db, celery_worker) -> Iterator[str]:
    """Base URL of the app served by uvicorn (ASGI) on a free loopback port."""
    from django.conf import settings

    from tests.conftest import test_database_url

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    log = open(BASE_DIR / "var" / "test-uvicorn.log", "ab")  # noqa: SIM115
    command = [sys.executable, "-m", "uvicorn", "docqa.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--timeout-graceful-shutdown", "5"]
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("uvicorn exited during start; see var/test-uvicorn.log")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /healthz within 30 s")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def browser_page(monkeypatch) -> Iterator[Any]:
    """A fresh Chromium page (English, desktop size). Playwright's sync API keeps an event loop
    on this thread, so the ORM calls a test makes meanwhile must be allowed explicitly."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            # ORM calls made while Playwright's loop ran opened a connection in that async
            # context; close it here, or the test database cannot be dropped at the end.
            connections.close_all()
            context.close()
            browser.close()


def log_in(page: Any, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

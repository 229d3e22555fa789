"""Browser-test fixtures: the app under uvicorn on the test database, and a Chromium page.

`live_app` runs the real ASGI stack in a subprocess (like `make run`), pointed at the test
database and test Redis, with a real Celery worker beside it; `browser_page` drives Debian's
Chromium through Playwright. Both are registered in tests/conftest.py for every test to use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docqa.processes import serve

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


@pytest.fixture
def live_app(transactional_db, celery_worker) -> Iterator[str]:
    """Base URL of the app served by uvicorn (ASGI) on a free loopback port."""
    from django.conf import settings

    from tests.conftest import test_database_url

    env = {
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    with serve(env, log_path=BASE_DIR / "var" / "test-uvicorn.log") as (url, _proc):
        yield url


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

"""The ASGI stack: every middleware async-capable, static files served, pages rendered."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import warnings

import httpx
import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from docqa.asgi import application

# Importing docqa.asgi tuned this process's collector for serving (apps/core/gc_tuning.py);
# the test process goes back to CPython's defaults, which its timing-sensitive tests assume.
gc.unfreeze()
gc.set_threshold(700, 10, 10)


def test_the_web_process_freezes_its_start_up_objects_and_collects_young_ones_less_often():
    """docqa.asgi tunes the collector for the process that relays every stream
    (apps/core/gc_tuning.py); checked in a fresh interpreter, as uvicorn imports it."""
    script = (
        "import gc, json, docqa.asgi; "
        "print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    threshold, frozen = json.loads(done.stdout.strip().splitlines()[-1])
    assert threshold == [50_000, 10, 10]
    assert frozen > 50_000  # Django, the apps, the URLconf and its views


def test_every_middleware_is_async_capable():
    """One sync middleware would push every request, streams included, through a thread."""
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        assert getattr(middleware, "async_capable", False), f"{path} is sync-only"


@pytest.mark.django_db(transaction=True)
def test_static_files_and_pages_are_served_over_asgi():
    async def fetch() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.get("/static/css/app.css"), await client.get("/accounts/login/")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "must consume synchronous iterators"
        css, page = asyncio.run(fetch())
    assert css.status_code == 200 and "--accent" in css.text
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.text


@pytest.mark.django_db(transaction=True)
def test_the_language_chosen_on_the_event_loop_reaches_the_view_thread():
    """LocaleMiddleware runs inline on the loop (apps/core/async_middleware.py); the sync view
    renders in a thread and must still see the activated language."""

    async def fetch(language: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.get("/accounts/login/", headers={"Accept-Language": language})

    chinese, english = asyncio.run(fetch("zh-CN,zh;q=0.9")), asyncio.run(fetch("en"))
    assert chinese.headers["Content-Language"] == "zh-hans" and "<h1>登录</h1>" in chinese.text
    assert english.headers["Content-Language"] == "en" and "<h1>Log in</h1>" in english.text

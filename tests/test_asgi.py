"""The ASGI stack: every middleware async-capable, static files served, pages rendered."""

from __future__ import annotations

import asyncio
import warnings

import httpx
import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from docqa.asgi import application


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

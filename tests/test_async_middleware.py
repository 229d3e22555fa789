"""apps.core.async_middleware: hooks on the event loop, and in a thread only when they may block."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.test import AsyncRequestFactory
from django.utils.deprecation import MiddlewareMixin

from apps.core import async_middleware
from apps.core.async_middleware import InlineHooksMixin


def test_every_configured_middleware_is_async_native():
    """Django's MiddlewareMixin would hop to a thread twice per middleware and request."""
    from django.utils.module_loading import import_string

    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        if not isinstance(middleware, type):  # a factory function (allauth's AccountMiddleware)
            assert getattr(middleware, "async_capable", False), path
            continue
        if issubclass(middleware, MiddlewareMixin):
            assert issubclass(middleware, InlineHooksMixin), path


class _Probe(InlineHooksMixin, MiddlewareMixin):
    """Notes the thread each hook runs in; `?block=1` says the response hook may block."""

    seen: dict[str, int]

    def process_request(self, request: HttpRequest) -> None:
        self.seen["request"] = threading.get_ident()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        self.seen["response"] = threading.get_ident()
        return response

    def response_needs_thread(self, request: HttpRequest, response: Any) -> bool:
        return request.GET.get("block") == "1"


async def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def test_hooks_run_on_the_event_loop_unless_they_may_block():
    async def call(query: str) -> dict[str, int]:
        probe = _Probe(_ok)
        probe.seen = {}
        response = await probe(AsyncRequestFactory().get("/", QUERY_STRING=query))
        assert response.content == b"ok"
        probe.seen["loop"] = threading.get_ident()
        return probe.seen

    inline = asyncio.run(call(""))
    assert inline["request"] == inline["response"] == inline["loop"]
    blocking = asyncio.run(call("block=1"))
    assert blocking["request"] == blocking["loop"] != blocking["response"]


def test_sync_mode_is_plain_django():
    probe = _Probe(lambda request: HttpResponse("ok"))
    probe.seen = {}
    assert probe(AsyncRequestFactory().get("/")).content == b"ok"
    assert probe.seen["request"] == probe.seen["response"] == threading.get_ident()


@pytest.mark.django_db(transaction=True)
def test_a_modified_session_is_saved_in_a_thread_and_kept():
    saved_in: list[int] = []

    async def view(request: HttpRequest) -> HttpResponse:
        request.session["colour"] = "teal"
        original = request.session.save

        def save(*args: Any, **kwargs: Any) -> None:
            saved_in.append(threading.get_ident())
            original(*args, **kwargs)

        request.session.save = save  # type: ignore[method-assign]
        return HttpResponse("ok")

    async def call() -> tuple[HttpResponse, int]:
        middleware = async_middleware.SessionMiddleware(view)
        response = await middleware(AsyncRequestFactory().get("/"))
        return response, threading.get_ident()

    response, loop_thread = asyncio.run(call())
    assert saved_in and saved_in[0] != loop_thread
    key = response.cookies[settings.SESSION_COOKIE_NAME].value
    store = async_middleware.SessionMiddleware(view).SessionStore(key)
    assert store["colour"] == "teal"


@pytest.mark.django_db(transaction=True)
def test_a_streamed_response_does_not_keep_the_session_writes_connection():
    from django.db import connection

    async def view(request: HttpRequest) -> StreamingHttpResponse:
        request.session["colour"] = "teal"

        async def body() -> Any:
            yield b"x"

        return StreamingHttpResponse(body())

    async def call() -> bool:
        middleware = async_middleware.SessionMiddleware(view)
        await middleware(AsyncRequestFactory().get("/"))

        def still_open() -> bool:
            return connection.connection is not None

        from asgiref.sync import sync_to_async

        return await sync_to_async(still_open)()

    assert asyncio.run(call()) is False


def test_csrf_reads_a_large_body_in_a_thread_and_a_small_one_inline():
    checked_in: list[int] = []

    class Watched(async_middleware.CsrfViewMiddleware):
        def process_view(self, request: Any, callback: Any, args: Any, kwargs: Any) -> Any:
            checked_in.append(threading.get_ident())
            return super().process_view(request, callback, args, kwargs)

    async def call(size: int) -> tuple[int, int]:
        factory = AsyncRequestFactory()
        token_request = factory.get("/")
        token = get_token(token_request)
        cookie = token_request.META["CSRF_COOKIE"]
        request = factory.post("/", {"csrfmiddlewaretoken": token, "text": "x" * size})
        request.COOKIES[settings.CSRF_COOKIE_NAME] = cookie
        middleware = Watched(_ok)
        middleware.process_request(request)
        rejected = await middleware.process_view(request, _ok, (), {})
        assert rejected is None  # the token is accepted either way
        return checked_in[-1], threading.get_ident()

    small, loop_thread = asyncio.run(call(100))
    assert small == loop_thread
    large, loop_thread = asyncio.run(call(async_middleware.INLINE_BODY_BYTES + 1))
    assert large != loop_thread


def test_csrf_still_rejects_a_post_without_its_token():
    async def call() -> Any:
        request = AsyncRequestFactory().post("/", {"text": "hello"})
        middleware = async_middleware.CsrfViewMiddleware(_ok)
        middleware.process_request(request)
        return await middleware.process_view(request, _ok, (), {})

    rejected = asyncio.run(call())
    assert rejected is not None and rejected.status_code == 403


def test_the_deploy_check_still_demands_the_security_middleware(settings):
    from apps.core.checks import check_security_middleware

    assert check_security_middleware() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith(".CsrfViewMiddleware")]
    assert [w.id for w in check_security_middleware()] == ["core.security.W003"]


def test_the_gate_lets_only_so_many_requests_into_their_views_at_once(settings):
    settings.SYNC_VIEW_CONCURRENCY = 2
    inside, most = [0], [0]

    async def view(request: HttpRequest) -> HttpResponse:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        await asyncio.sleep(0.02)
        inside[0] -= 1
        return HttpResponse("ok")

    async def main() -> list[bytes]:
        gate = async_middleware.ConcurrencyGateMiddleware(view)
        responses = await asyncio.gather(*(gate(AsyncRequestFactory().get("/")) for _ in range(6)))
        return [r.content for r in responses]

    assert asyncio.run(main()) == [b"ok"] * 6
    assert most[0] == 2

"""Django's own middleware, run on the event loop under ASGI instead of a thread hop per hook.

`MiddlewareMixin.__acall__` runs every `process_request` and `process_response` through
`sync_to_async`: with the nine middleware of this project that is about fifteen hand-offs to a
thread and back for every request, ~7 ms before a streamed answer can start, and fifteen times
a request competes with the event loop for the GIL while hundreds of answers stream (reference
perf anchors §A1). Almost none of these hooks do I/O: they read headers and cookies, set
attributes, add headers. So each class below runs them inline, and hands a hook to a thread only
when that hook may block:

- the session is saved (SessionMiddleware, after the view modified it): a cache and DB write;
- messages are stored (MessageMiddleware, after the view used or added messages): they may go to
  the session;
- the CSRF check would parse a large request body (an upload): `request.POST` of 100 MB.

Under WSGI, and with Django's sync test client, these classes are exactly Django's.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, locale, security

from apps.core.db import release_db_connections

# A request body above this is parsed in a thread, never on the event loop.
INLINE_BODY_BYTES = 64 * 1024


class InlineHooksMixin:
    """Runs a MiddlewareMixin's hooks on the event loop; `request_needs_thread` and
    `response_needs_thread` say when a hook may block and must run in a thread as Django runs it.
    """

    get_response: Any
    process_request: Any
    process_response: Any
    # Set by MiddlewareMixin._async_check (whether get_response is a coroutine function); the
    # stub of MiddlewareMixin leaves it out.
    async_mode: bool

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            if self.request_needs_thread(request):
                response = await sync_to_async(self.process_request)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await sync_to_async(self._process_response_in_thread)(request, response)
            else:
                response = self.process_response(request, response)
        return response

    def _process_response_in_thread(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        try:
            return self.process_response(request, response)
        finally:
            if response.streaming:
                # Django gives connections back when the response closes: for a streamed
                # answer, minutes from now. The session write is done; so is the connection.
                release_db_connections()


def _large_body(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > INLINE_BODY_BYTES


class SecurityMiddleware(InlineHooksMixin, security.SecurityMiddleware):
    pass


class SessionMiddleware(InlineHooksMixin, sessions.SessionMiddleware):
    """The session itself loads lazily, in the view's thread; only saving it blocks."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        if session is None:
            return False
        return bool(session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(InlineHooksMixin, locale.LocaleMiddleware):
    pass


class CommonMiddleware(InlineHooksMixin, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InlineHooksMixin, csrf.CsrfViewMiddleware):
    """The cookie check is inline; `process_view` may read `request.POST`, so a large body (an
    upload) is parsed in a thread. Django adapts `process_view` by whether it is a coroutine
    function, so the async one is only put in place when this instance runs async."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self._check_view = self.process_view
        if self.async_mode:
            # A coroutine in place of the sync hook the stub declares: Django awaits it.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS  # the secret is then read from the session

    async def _aprocess_view(
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        check = self._check_view
        if settings.CSRF_USE_SESSIONS or _large_body(request):
            return await sync_to_async(check)(request, callback, args, kwargs)
        return check(request, callback, args, kwargs)


class AuthenticationMiddleware(InlineHooksMixin, auth.AuthenticationMiddleware):
    """`request.user` stays lazy: the user is loaded where it is first used (a thread)."""


class MessageMiddleware(InlineHooksMixin, messages.MessageMiddleware):
    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class XFrameOptionsMiddleware(InlineHooksMixin, clickjacking.XFrameOptionsMiddleware):
    pass


class ConcurrencyGateMiddleware:
    """At most SYNC_VIEW_CONCURRENCY requests of this process past this point at once.

    Innermost, so what it bounds is the view: for Django's sync views, a thread each. Under a
    burst (500 questions in the same second) every request would otherwise get a thread at
    once, all of them contending for the GIL with the event loop that relays every streaming
    answer, and for the DB pool's 20 connections: each holder is slowed by the other 499, and
    the loop gets the GIL ever more rarely. A view is mostly Python under the GIL, so a few at
    once (default 2) finish as fast as many would. Waiting here costs nothing: the request is a
    coroutine until its turn comes. A streamed response leaves the gate when the view returns,
    before its body streams.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(settings.SYNC_VIEW_CONCURRENCY)
        async with gate:
            return await self.get_response(request)

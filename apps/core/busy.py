"""A request that finds no free database connection in time, or finds Redis unreachable
(apps/core/outage.py): "busy, try again", not a 500.

The web process borrows connections from a bounded pool (DJANGO_DB_POOL_SIZE); a request that
waits longer than DJANGO_DB_POOL_TIMEOUT gets psycopg_pool.PoolTimeout, which Django raises as
an OperationalError. That is load, not a bug: the user gets 503 with Retry-After and words
saying so (JSON for the page's scripts, a small page otherwise), and the log one warning line
instead of a traceback. Any other database error still reaches Django's 500 handling.

Redis unreachable (a restart, a crash) is the same for the user, in other words: "DocQA is busy or
restarting", 503 and Retry-After, until Redis answers again.

Only exceptions from views arrive here (Django's `process_exception`); one raised while a
middleware saves the session after the view still ends as a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from psycopg_pool import PoolTimeout

from apps.core.outage import is_outage

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def pool_exhausted(error: BaseException) -> bool:
    """True for Django's OperationalError that wraps a pool timeout (or the timeout itself)."""
    if isinstance(error, PoolTimeout):
        return True
    return isinstance(error, OperationalError) and isinstance(error.__cause__, PoolTimeout)


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        "application/json" in accept
        or "text/event-stream" in accept
        or request.content_type == "application/json"
        or "HX-Request" in request.headers
    )


class DatabaseBusyMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if pool_exhausted(exception):
            logger.warning(
                "no database connection was free in time for %s %s", request.method, request.path
            )
            return busy_response(
                request, _("DocQA is busy right now. Please try again in a moment.")
            )
        if is_outage(exception):
            logger.warning(
                "Redis is unreachable (%s: %s) for %s %s",
                type(exception).__name__,
                exception,
                request.method,
                request.path,
            )
            return busy_response(request, outage_message())
        return None


def outage_message() -> str:
    return _("DocQA is busy or restarting. Please try again in a moment.")


def busy_response(request: HttpRequest, message: str) -> HttpResponse:
    """503 with Retry-After: JSON for scripts and API clients, a small page otherwise."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _wants_json(request):
        body = {"message": message, "retryable": True}
        return JsonResponse(body, status=503, headers=headers)
    # A page of its own, not base.html: that one reads the user, which needs the database and
    # the session (Redis).
    html = render_to_string("503.html", {"message": message})
    return HttpResponse(html, status=503, headers=headers)

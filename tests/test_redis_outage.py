"""Redis stopped and started again under the real web server: 503 "busy or restarting", never
a 500, nothing half-stored, and everything back by itself once Redis answers.

A throwaway redis-server (tests/redis_server.py) is stopped and restarted inside the test; the
web server (uvicorn, as `make run` starts
it) and the chat's admission controller point at it, the test database is the usual one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from apps.chat import services
from apps.chat.models import Message
from apps.documents.models import Document, Status
from docqa.processes import serve
from tests.browser import BASE_DIR
from tests.conftest import PASSWORD, make_user

BUSY = "DocQA is busy or restarting. Please try again in a moment."


@pytest.fixture
def web_on_throwaway_redis(transactional_db, throwaway_redis) -> Iterator[str]:
    from tests.conftest import test_database_url

    env = {
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": throwaway_redis.url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    with serve(env, log_path=BASE_DIR / "var" / "test-uvicorn-outage.log") as (url, _proc):
        yield url


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _log_in(client: httpx.Client, email: str) -> None:
    token = _csrf(client, "/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD},
    )
    assert response.status_code == 302, response.text


def _upload(client: httpx.Client, slug: str, name: str) -> httpx.Response:
    token = client.cookies["csrftoken"]
    return client.post(
        f"/w/{slug}/documents/upload/",
        files={"file": (name, b"Minutes of the spring meeting.\nThe budget was approved.\n")},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


def _assert_busy(response: httpx.Response, *, json: bool) -> None:
    assert response.status_code == 503, response.text[:500]
    assert int(response.headers["Retry-After"]) > 0
    if json:
        assert response.json() == {"message": BUSY, "retryable": True}
    else:
        assert BUSY in response.text and "Traceback" not in response.text


def test_pages_answer_busy_while_redis_is_down_and_recover_by_themselves(
    web_on_throwaway_redis, throwaway_redis, owner, team
):
    url = web_on_throwaway_redis
    conversation = services.create_conversation(workspace=team, user=owner)
    documents = f"/w/{team.slug}/documents/"
    user = httpx.Client(base_url=url, timeout=30)
    stranger = httpx.Client(base_url=url, timeout=30)
    try:
        _log_in(user, owner.email)
        assert user.get(documents).status_code == 200
        login_token = _csrf(stranger, "/accounts/login/")

        throwaway_redis.stop()
        started = time.monotonic()
        _assert_busy(user.get(documents), json=False)
        _assert_busy(user.get(documents, headers={"Accept": "application/json"}), json=True)
        _assert_busy(user.get("/accounts/login/"), json=False)  # a session cookie: read it
        sign_in = {"csrfmiddlewaretoken": login_token, "username": "x@example.com"}
        _assert_busy(
            stranger.post("/accounts/login/", data={**sign_in, "password": "wrong"}), json=False
        )
        # A question (the chat's fetch) gets the JSON shape before any stream starts.
        ask = f"/w/{team.slug}/chat/{conversation.pk}/ask/"
        asked = user.post(
            ask,
            json={"question": "Budget?"},
            headers={"X-CSRFToken": user.cookies["csrftoken"], "Accept": "text/event-stream"},
        )
        _assert_busy(asked, json=True)
        assert not Message.objects.filter(conversation=conversation).exists()
        # An upload while Redis is down is refused whole: no row, no stored file.
        files_before = {p.name for p in (BASE_DIR / "var" / "test-media").rglob("*")}
        _assert_busy(_upload(user, team.slug, "minutes.txt"), json=True)
        assert not Document.objects.filter(workspace=team).exists()
        assert {p.name for p in (BASE_DIR / "var" / "test-media").rglob("*")} == files_before
        assert time.monotonic() - started < 30  # short timeouts: no page hangs

        throwaway_redis.start()
        assert user.get(documents).status_code == 200  # the same session, no restart needed
        response = _upload(user, team.slug, "minutes.txt")
        assert response.status_code == 200, response.text[:500]
        document = Document.objects.get(workspace=team)
        assert document.status == Status.QUEUED
        assert throwaway_redis.client().llen("celery") == 1  # its extraction task is queued
        stranger.cookies.clear()
        _log_in(stranger, make_user("later@example.com").email)
    finally:
        user.close()
        stranger.close()

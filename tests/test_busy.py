"""A request that waited past DJANGO_DB_POOL_TIMEOUT: 503 with words and Retry-After, no 500."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test import Client
from psycopg_pool import PoolTimeout

from apps.core.busy import pool_exhausted

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def empty_the_pool(monkeypatch):
    """Call it, and from then on getting a connection fails as psycopg's pool does after its
    timeout (the test logs in first: that needs the database)."""

    def no_connection(self, conn_params):
        raise PoolTimeout("couldn't get a connection after 30.00 sec")

    def empty() -> None:
        connection.close()
        monkeypatch.setattr(DatabaseWrapper, "get_new_connection", no_connection)

    yield empty
    monkeypatch.undo()
    connection.close()


def _logged_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_a_page_says_busy_in_the_users_language(owner, team, empty_the_pool, caplog):
    client = _logged_in(owner)
    empty_the_pool()
    with caplog.at_level(logging.WARNING, logger="apps.core.busy"):
        response = client.get(f"/w/{team.slug}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    page = response.content.decode()
    assert "DocQA 当前繁忙" in page and 'lang="zh-hans"' in page
    # Our one warning, and Django's usual line for a 5xx; no traceback anywhere.
    assert [r.name for r in caplog.records if r.levelname == "WARNING"] == ["apps.core.busy"]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_chat_script_gets_a_retryable_json_message(owner, team, empty_the_pool):
    client = _logged_in(owner)
    empty_the_pool()
    response = client.post(
        f"/w/{team.slug}/chat/1/ask/",
        data=b'{"question": "hi"}',
        content_type="application/json",
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 503
    assert response.json() == {
        "message": "DocQA is busy right now. Please try again in a moment.",
        "retryable": True,
    }


def test_other_database_errors_are_not_called_busy():
    from django.db import OperationalError

    wrapped = OperationalError("server closed the connection")
    wrapped.__cause__ = ConnectionError("reset")
    assert not pool_exhausted(wrapped)
    timed_out = OperationalError("couldn't get a connection")
    timed_out.__cause__ = PoolTimeout("couldn't get a connection after 30.00 sec")
    assert pool_exhausted(timed_out) and pool_exhausted(PoolTimeout("x"))

"""Limits and safety: every API route walked with a foreign key (404) and a wrong key (401),
the per-key rate limit (429 + Retry-After), the API's admission priority below people, and the
provider key in no response."""

from __future__ import annotations

import threading

import httpx
import pytest

from apps.api.openai_compat import api as openai_api
from apps.api.v1 import api as v1_api
from apps.chat import services
from apps.chat.models import Conversation, Message
from apps.documents.models import Document
from apps.moonshot.admission import Priority, get_controller, reset_controller
from tests.chat.conftest import iter_events, ready_document
from tests.provider import API_KEY

from .conftest import ApiClient

FACT = "The emergency shutdown valve is tested every 90 days by the night shift."
QUESTION = "How often is the emergency shutdown valve tested?"


def routes() -> list[tuple[str, str]]:
    """(method, path template) of every route of both APIs, from their OpenAPI schemas."""
    found = []
    for api, prefix in ((v1_api, "/api/v1/"), (openai_api, "/api/openai/v1/")):
        for path, operations in api.get_openapi_schema(path_prefix=prefix)["paths"].items():
            found.extend((method, path) for method in operations)
    return found


def test_the_walk_covers_every_route():
    assert len(routes()) == 19  # 13 REST routes, 4 for site admins, 2 OpenAI-compatible


@pytest.fixture
def theirs(team, owner) -> dict[str, object]:
    """The team's objects, which a foreign key must never reach."""
    document = ready_document(team, "secret.txt", FACT, owner)
    conversation = services.create_conversation(workspace=team, user=owner)
    return {"document_id": document.pk, "conversation_id": conversation.pk, "slug": team.slug}


def _call(client: ApiClient, method: str, template: str, theirs: dict[str, object]):
    path = template.format(**theirs)
    body = None
    if path.endswith("/ask"):
        body = {"question": QUESTION}
    elif path.endswith("/chat/completions"):
        body = {"model": f"docqa/{theirs['slug']}", "messages": [{"role": "user", "content": "x"}]}
    elif method == "post" and path.endswith("/conversations"):
        body = {}
    if method == "post" and path.endswith("/documents"):
        return client.client.post(path, {"file": []}, headers=client.headers)
    return getattr(client, method)(path, body)


def test_a_foreign_key_reaches_nothing_of_another_workspace(online, foreign_api, theirs, team):
    for method, template in routes():
        response = _call(foreign_api, method, template, theirs)
        body = response.content.decode()
        if "{" in template or "/ops/" in template or template.endswith("/chat/completions"):
            assert response.status_code == 404, (method, template, body)
        assert "secret.txt" not in body and FACT not in body, template
        if not template.endswith("/chat/completions"):  # that one echoes the model it was sent
            assert team.slug not in body, template
    assert Document.objects.filter(pk=theirs["document_id"]).exists()
    assert Conversation.objects.filter(pk=theirs["conversation_id"]).exists()
    assert not Message.objects.filter(conversation_id=theirs["conversation_id"]).exists()


def test_a_wrong_key_gets_401_json_everywhere(db, theirs):
    for key in (None, "dq_wrong", "Basic abc"):
        client = ApiClient(key)
        for method, template in routes():
            response = _call(client, method, template, theirs)
            assert response.status_code == 401, (key, method, template)
            assert response.json()["code"] in ("missing_key", "invalid_key"), template


def test_no_response_carries_the_provider_key(online, api, theirs):
    pages = [api.client.get("/api/v1/docs"), api.client.get("/api/v1/openapi.json")]
    pages += [_call(api, m, t, theirs) for m, t in routes() if not t.endswith("/ask")]
    for response in pages:
        assert API_KEY not in response.content.decode()
        assert all(API_KEY not in str(v) for v in response.headers.values())


def test_openapi_schema_and_docs_page_are_served_without_a_key(db):
    schema = ApiClient(None).get("/api/v1/openapi.json")
    assert schema.status_code == 200 and "/api/v1/documents" in schema.json()["paths"]
    assert "bearer" in str(schema.json()["components"]["securitySchemes"]).lower()
    docs = ApiClient(None).get("/api/v1/docs")
    assert docs.status_code == 200 and b"/static/ninja/" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # served from the app itself: works offline


def test_per_key_rate_limit_is_429_with_retry_after(settings, api, viewer_api):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert api.get("/api/v1/usage").status_code == 200
    limited = api.get("/api/v1/usage")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert viewer_api.get("/api/v1/usage").status_code == 200  # another key, its own count


def test_api_questions_queue_behind_people(online, app_server, team, owner, member_key, settings):
    """Two provider slots, one kept for people: with the other taken, a person's question is
    answered at once while the API's waits in line until a slot frees."""
    settings.MOONSHOT_LIMITS = {"concurrency": 2, "rpm": 1000, "tpm": 10_000_000, "tpd": None}
    reset_controller()
    ready_document(team, "maintenance.txt", FACT, owner)
    person = services.create_conversation(workspace=team, user=owner)
    program = services.create_conversation(workspace=team, user=owner)
    holding, release = threading.Event(), threading.Event()

    def hold_slot() -> None:
        with get_controller().slot(cost_tokens=10, priority=Priority.BACKGROUND):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_slot)
    holder.start()
    holding.wait(5)
    timer = threading.Timer(1.5, release.set)
    timer.start()
    try:
        with (
            app_server.client(owner) as browser,
            browser.stream(
                "POST", f"/w/{team.slug}/chat/{person.pk}/ask/", json={"question": QUESTION}
            ) as response,
        ):
            browser_events = [e.name for e in iter_events(response)]
        assert "queued" not in browser_events and browser_events[-1] == "done"
        assert not release.is_set()  # the person was answered while the slot was still taken
        with (
            httpx.Client(
                base_url=app_server.url,
                headers={"Authorization": f"Bearer {member_key}"},
                timeout=30,
            ) as client,
            client.stream(
                "POST",
                f"/api/v1/conversations/{program.pk}/ask",
                json={"question": QUESTION, "stream": True},
            ) as response,
        ):
            api_events = list(iter_events(response))
    finally:
        release.set()
        timer.cancel()
        holder.join()
        reset_controller()
    names = [e.name for e in api_events]
    assert "queued" in names and names.index("queued") < names.index("delta")
    assert names[-1] == "done"

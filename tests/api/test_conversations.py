"""/api/v1/conversations and ask: CRUD, the JSON answer, the browser's SSE events, the
Idempotency-Key, roles and tenants. Asking runs over real HTTP (uvicorn), the emulator as
provider."""

from __future__ import annotations

import httpx
import pytest

from apps.chat import services
from apps.chat.models import Conversation, Message, Role
from apps.workspaces.models import Workspace
from tests.chat.conftest import iter_events, ready_document

FACT = "The emergency shutdown valve is tested every 90 days by the night shift."
QUESTION = "How often is the emergency shutdown valve tested?"


def http(server, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
    )


def test_create_with_scope_and_model_list_get_and_delete(api, team, owner):
    doc = ready_document(team, "a.txt", "Alpha.")
    created = api.post(
        "/api/v1/conversations",
        {"title": "Valves", "scope": "some", "document_ids": [doc.pk, 999999], "model": "auto"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["title"] == "Valves" and body["scope"] == "some"
    assert body["document_ids"] == [doc.pk]  # ids not of this workspace are ignored
    listed = api.get("/api/v1/conversations").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]
    assert api.get(f"/api/v1/conversations/{body['id']}").json()["title"] == "Valves"
    assert api.get(f"/api/v1/conversations/{body['id']}/messages").json() == []
    assert api.delete(f"/api/v1/conversations/{body['id']}").status_code == 204
    assert not Conversation.objects.exists()


def test_bad_conversation_input_is_a_clear_error(api):
    unknown = api.post("/api/v1/conversations", {"model": "gpt-9"})
    assert unknown.status_code == 400 and unknown.json()["message"] == "Unknown model."
    wrong = api.post("/api/v1/conversations", {"scope": "everything"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_input"
    broken = api.post("/api/v1/conversations", "not json", content_type="application/json")
    assert broken.status_code in (400, 422) and "code" in broken.json()


def test_a_key_may_not_change_someone_elses_conversation(viewer_api, team, member):
    theirs = services.create_conversation(workspace=team, user=member)
    response = viewer_api.delete(f"/api/v1/conversations/{theirs.pk}")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Conversation.objects.filter(pk=theirs.pk).exists()


def test_another_workspaces_conversations_are_404(foreign_api, team, owner):
    theirs = services.create_conversation(workspace=team, user=owner)
    for method, path, body in [
        ("get", f"/api/v1/conversations/{theirs.pk}", None),
        ("get", f"/api/v1/conversations/{theirs.pk}/messages", None),
        ("delete", f"/api/v1/conversations/{theirs.pk}", None),
        ("post", f"/api/v1/conversations/{theirs.pk}/ask", {"question": "hi"}),
    ]:
        response = getattr(foreign_api, method)(path, body)
        assert response.status_code == 404 and response.json()["code"] == "not_found", path
    assert foreign_api.get("/api/v1/conversations").json()["count"] == 0


@pytest.fixture
def asked(team, owner) -> Conversation:
    ready_document(team, "maintenance.txt", f"Gaskets are replaced each spring.\n\n{FACT}", owner)
    return services.create_conversation(workspace=team, user=owner)


def test_ask_answers_json_with_sources_and_usage(online, app_server, asked, member_key):
    with http(app_server, member_key) as client:
        response = client.post(f"/api/v1/conversations/{asked.pk}/ask", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "complete" and "every 90 days" in body["text"]
    assert body["sources"][0]["name"] == "maintenance.txt"
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    answer = Message.objects.get(pk=body["answer_id"])
    assert answer.content == body["text"] and answer.prompt_tokens > 0


def test_ask_streams_the_browsers_events(online, app_server, asked, member_key):
    with (
        http(app_server, member_key) as client,
        client.stream(
            "POST",
            f"/api/v1/conversations/{asked.pk}/ask",
            json={"question": QUESTION, "stream": True},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(iter_events(response))
    names = [e.name for e in events]
    assert names[0] == "meta" and names[-2:] == ["usage", "done"]
    assert "delta" in names and "sources" in names and "html" in names
    text = "".join(e.data["text"] for e in events if e.name == "delta")
    assert "every 90 days" in text
    answer = Message.objects.get(conversation=asked, role=Role.ASSISTANT)
    assert answer.content == text


def test_ask_with_an_idempotency_key_is_asked_once(online, app_server, asked, member_key):
    url = f"/api/v1/conversations/{asked.pk}/ask"
    headers = {"Idempotency-Key": "q-1"}
    with http(app_server, member_key) as client:
        first = client.post(url, json={"question": QUESTION}, headers=headers).json()
        again = client.post(url, json={"question": "Something else?"}, headers=headers).json()
    assert again["answer_id"] == first["answer_id"] and again["text"] == first["text"]
    assert Message.objects.filter(conversation=asked, role=Role.USER).count() == 1
    assert len([c for c in online.state.calls if c.path.endswith("/chat/completions")]) == 1


def test_ask_bad_input_and_limits(online, app_server, asked, member_key, team):
    url = f"/api/v1/conversations/{asked.pk}/ask"
    with http(app_server, member_key) as client:
        empty = client.post(url, json={"question": "  "})
        assert empty.status_code == 400 and empty.json()["message"] == "Type a question first."
        missing = client.post(url, json={})
        assert missing.status_code == 422 and missing.json()["code"] == "invalid_input"
        Workspace.objects.filter(pk=team.pk).update(max_tokens_per_day=1)
        Message.objects.create(
            conversation=asked, workspace=team, role=Role.ASSISTANT, prompt_tokens=5
        )
        over = client.post(url, json={"question": QUESTION})
    assert over.status_code == 429 and over.json()["code"] == "daily_token_limit"
    assert int(over.headers["Retry-After"]) > 0

"""The snapshot a link stores, and how its answers are shown: no citation links, no links
into the site, still sanitised."""

from __future__ import annotations

import pytest

from apps.chat import services as chat_services
from apps.chat.models import Message, Role, Status
from apps.sharing import snapshot

pytestmark = pytest.mark.django_db


def test_take_copies_questions_and_shown_answers_as_plain_json(team, owner):
    conversation = chat_services.create_conversation(workspace=team, user=owner)
    conversation.title = "Valves"
    conversation.save(update_fields=["title"])

    def add(role: str, content: str, **fields: object) -> None:
        Message.objects.create(
            conversation=conversation, workspace=team, role=role, content=content, **fields
        )

    add(Role.USER, "Valve?")
    add(
        Role.ASSISTANT,
        "Every 90 days [plan.pdf].",
        model="moonshot-v1-8k",
        sources=[
            {"id": 3, "name": "plan.pdf", "cited": True},
            {"id": 4, "name": "other.pdf", "cited": False},
        ],
        quotes=[{"quote": "every 90 days", "document": "plan.pdf", "found": True}],
    )
    add(Role.USER, "And the pump?")
    add(Role.ASSISTANT, "The provider is down (upstream 503).", status=Status.FAILED)
    add(Role.ASSISTANT, "Half an ans", status=Status.STREAMING)

    frozen = snapshot.take(conversation)
    assert frozen["title"] == "Valves" and frozen["version"] == snapshot.VERSION
    kept = [(m["role"], m["content"]) for m in frozen["messages"]]
    assert kept == [
        ("user", "Valve?"),
        ("assistant", "Every 90 days [plan.pdf]."),
        ("user", "And the pump?"),
    ]
    answer = frozen["messages"][1]
    assert answer["sources"] == ["plan.pdf"]  # names only, of the documents it cited
    assert answer["quotes"] == [{"quote": "every 90 days", "document": "plan.pdf", "found": True}]
    assert "id" not in str(answer["sources"])


def test_answers_render_without_citation_or_site_links_and_stay_sanitised():
    html = snapshot.render_answer(
        "See [plan.pdf] and [the page](/w/team/documents/3/) or [docs](https://example.com/x)."
        "\n\n<script>alert(1)</script> ![x](https://evil.example/p.png)"
        " [js](javascript:alert(1))"
    )
    assert "[plan.pdf]" in html and "citation" not in html
    assert "/w/team/documents/3/" not in html and ">the page</a>" in html
    assert 'href="https://example.com/x"' in html and "nofollow" in html
    assert "<script>" not in html and "<img" not in html and 'href="javascript' not in html


def test_render_tolerates_a_snapshot_missing_keys():
    shown = snapshot.render({"messages": [{"role": "assistant", "content": "**Hi**"}, {}]})
    assert shown[0].html == "<p><strong>Hi</strong></p>\n"
    assert shown[1].role == "user" and shown[1].text == ""
    assert snapshot.render({}) == []

"""Chat pages (non-streaming views) through Django's test client."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from apps.chat import services
from apps.chat.models import Conversation, Message, Role, Status
from tests.conftest import PASSWORD

from .conftest import ready_document

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def url(conversation: Conversation, what: str = "") -> str:
    base = f"/w/{conversation.workspace.slug}/chat/{conversation.pk}/"
    return f"{base}{what}/" if what else base


def add_turn(conversation, question, answer, **fields) -> Message:
    Message.objects.create(
        conversation=conversation,
        workspace=conversation.workspace,
        role=Role.USER,
        content=question,
    )
    return Message.objects.create(
        conversation=conversation,
        workspace=conversation.workspace,
        role=Role.ASSISTANT,
        content=answer,
        **fields,
    )


def test_index_opens_the_newest_own_conversation_or_offers_to_start(team, owner, member):
    client = login(member)
    response = client.get(f"/w/{team.slug}/chat/")
    assert response.status_code == 200
    assert "Ask your documents" in response.content.decode()

    services.create_conversation(workspace=team, user=owner)  # someone else's: not opened
    assert client.get(f"/w/{team.slug}/chat/").status_code == 200
    response = client.post(f"/w/{team.slug}/chat/new/")
    mine = Conversation.objects.get(created_by=member)
    assert response["Location"] == url(mine)
    assert client.get(f"/w/{team.slug}/chat/")["Location"] == url(mine)


def test_conversation_list_search(team, owner):
    a = services.create_conversation(workspace=team, user=owner)
    a.title = "Pump warranty"
    a.save()
    b = services.create_conversation(workspace=team, user=owner)
    b.title = "Valves"
    b.save()
    add_turn(b, "Which gasket fits the intake?", "The G-12.")
    client = login(owner)
    page = client.get(f"/w/{team.slug}/chat/?q=gasket").content.decode()
    assert "Valves" in page and "Pump warranty" not in page
    page = client.get(f"/w/{team.slug}/chat/?q=zebra").content.decode()
    assert "No conversation matches." in page


def test_detail_renders_history_as_safe_markdown_with_citations_and_usage(team, owner):
    doc = ready_document(team, "pump manual.pdf", "Warranty: 24 months.")
    conversation = services.create_conversation(workspace=team, user=owner)
    add_turn(
        conversation,
        "Warranty?",
        "It lasts **24 months** [pump manual.pdf].",
        model="moonshot-v1-8k",
        prompt_tokens=1200,
        cached_tokens=1000,
        completion_tokens=30,
        cost_cny=Decimal("0.000700"),
        sources=[{"id": doc.pk, "name": doc.name, "narrowed": False}],
    )
    response = login(owner).get(url(conversation))
    page = response.content.decode()
    assert "<strong>24 months</strong>" in page
    doc_url = f"/w/{team.slug}/documents/{doc.pk}/"
    assert f'<a href="{doc_url}" class="citation"' in page or re.search(
        rf'<a [^>]*href="{re.escape(doc_url)}"[^>]*class="citation"', page
    )
    assert "1200 prompt (1000 cached) + 30 completion tokens" in page
    assert "¥0.000700" in page
    assert "img-src 'self'" in response["Content-Security-Policy"]
    # The Chat tab, and the JavaScript catalog before chat.js.
    assert re.search(r'<a href="/w/[^"]+/chat/" aria-current="page">Chat</a>', page)
    assert page.index("/jsi18n/") < page.index("js/chat.js") < page.index("js/chat-page.js")


def test_stopped_and_failed_answers_show_after_reload(team, owner):
    conversation = services.create_conversation(workspace=team, user=owner)
    add_turn(conversation, "One?", "Half an ans", status=Status.STOPPED)
    add_turn(
        conversation,
        "Two?",
        "",
        status=Status.FAILED,
        error_message="The AI provider is busy right now. Please try again shortly.",
        retryable=True,
    )
    page = login(owner).get(url(conversation)).content.decode()
    assert "Half an ans" in page
    assert "Stopped. The partial answer is saved." in page
    assert "The AI provider is busy right now." in page
    assert "data-retry" in page


def test_others_read_a_conversation_but_cannot_ask_in_it(team, owner, viewer, member):
    conversation = services.create_conversation(workspace=team, user=owner)
    add_turn(conversation, "The owner asks?", "The owner hears.")
    for user in (viewer, member):
        page = login(user).get(url(conversation)).content.decode()
        assert "The owner hears." in page
        assert "data-composer" not in page and "conv-title" not in page
        assert "Start your own conversation" in page
    page = login(owner).get(url(conversation)).content.decode()
    assert "data-composer" in page and "conv-title" in page


def test_rename_and_delete_views(team, owner, member):
    conversation = services.create_conversation(workspace=team, user=owner)
    assert login(member).post(url(conversation, "rename"), {"title": "x"}).status_code == 403
    assert login(member).post(url(conversation, "delete")).status_code == 403

    client = login(owner)
    response = client.post(url(conversation, "rename"), {"title": "Pump questions"})
    assert response.status_code == 302
    assert Conversation.objects.get(pk=conversation.pk).title == "Pump questions"
    response = client.post(url(conversation, "rename"), {"title": "   "}, follow=True)
    assert "A title cannot be empty." in response.content.decode()
    response = client.post(url(conversation, "delete"))
    assert response["Location"] == f"/w/{team.slug}/chat/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_scope_view_answers_with_the_budget(team, owner, member):
    a = ready_document(team, "a.txt", "Alpha " * 400)
    ready_document(team, "b.txt", "Beta " * 40)
    conversation = services.create_conversation(workspace=team, user=owner)
    response = login(owner).post(
        url(conversation, "scope"), {"scope": "some", "documents": [str(a.pk)], "model": "auto"}
    )
    budget = json.loads(response.content)
    assert response.status_code == 200
    assert budget["documents"] == ["a.txt"] and budget["fits"] is True
    assert 0 < budget["used"] < budget["limit"] == 8192
    page = login(owner).get(url(conversation)).content.decode()
    assert f"{budget['used']} of 8192 tokens" in page
    assert "1 document" in page

    response = login(owner).post(url(conversation, "scope"), {"scope": "all", "model": "nope"})
    assert response.status_code == 400 and json.loads(response.content)["message"]
    assert login(member).post(url(conversation, "scope"), {"scope": "all"}).status_code == 403


def test_another_workspace_conversation_is_a_404(team, owner, outsider):
    conversation = services.create_conversation(workspace=team, user=owner)
    from apps.workspaces.services import create_workspace

    theirs = create_workspace(owner=outsider, name="Theirs")
    client = login(outsider)
    assert client.get(f"/w/{theirs.slug}/chat/{conversation.pk}/").status_code == 404
    assert (
        client.post(
            f"/w/{theirs.slug}/chat/{conversation.pk}/ask/",
            data=json.dumps({"question": "hi"}),
            content_type="application/json",
        ).status_code
        == 404
    )


def test_chat_speaks_simplified_chinese(team, owner):
    conversation = services.create_conversation(workspace=team, user=owner)
    client = login(owner)
    client.cookies["django_language"] = "zh-hans"
    # The middleware activates Chinese in this thread; put the active language back afterwards.
    with translation.override(translation.get_language()):
        page = client.get(url(conversation)).content.decode()
        catalog = client.get("/jsi18n/").content.decode()
    assert "重新生成上一个回答" in page and ">对话</a>" in page
    assert json.dumps("正在等待 AI 服务商")[1:-1] in catalog  # the catalog escapes non-ASCII


def test_the_page_shows_todays_tokens_only_when_a_daily_limit_is_set(team, owner):
    conversation = services.create_conversation(workspace=team, user=owner)
    add_turn(conversation, "Q", "A", prompt_tokens=1200, completion_tokens=34)
    client = login(owner)
    assert "data-daily-tokens" not in client.get(url(conversation)).content.decode()
    team.max_tokens_per_day = 50_000
    team.save(update_fields=["max_tokens_per_day"])
    page = client.get(url(conversation)).content.decode()
    assert "This workspace used 1,234 of its 50,000 chat tokens today." in page


def test_a_quotation_the_documents_do_not_contain_is_flagged_on_the_page(team, owner):
    conversation = services.create_conversation(workspace=team, user=owner)
    found = {"quote": "Gaskets are replaced each spring.", "document": "m.txt", "found": True}
    missing = {"quote": "Valves are replaced every winter.", "document": "m.txt", "found": False}
    add_turn(conversation, "Q1", "A1", quotes=[found])
    add_turn(conversation, "Q2", "A2", quotes=[found, missing])
    add_turn(conversation, "Q3", "A3")
    page = login(owner).get(url(conversation)).content.decode()
    assert page.count("data-quote-check") == 2
    assert "The quotation was found in the documents." in page
    assert "1 of 2 quotations was not found in the documents:" in page
    assert "“Valves are replaced every winter.” [m.txt]" in page
    assert "“Gaskets are replaced" not in page  # found quotations are not listed one by one

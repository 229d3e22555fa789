"""Share-link fixtures: a team conversation answered for real (offline mode, through the ASGI
app and the streaming view), and helpers to open links as different people."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.chat import services as chat_services
from apps.chat.models import Conversation
from apps.sharing.models import ShareLink
from tests.chat.conftest import (  # noqa: F401  (fixtures)
    app_server,
    offline,
    ready_document,
    stream,
)
from tests.conftest import PASSWORD

FACT = "The emergency shutdown valve is tested every 90 days by the night shift."
# Passages of the document no answer about the valve quotes (no word of the questions in
# them, and passages of their own): they must not reach a shared page.
UNQUOTED = "Zebra crossing"
FILLER = "\n\n".join(
    f"Zebra crossing {i} near our depot gets fresh paint from a contractor each October."
    for i in range(150)
)


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def ask_url(conversation: Conversation) -> str:
    return f"/w/{conversation.workspace.slug}/chat/{conversation.pk}/ask/"


def share_url(conversation: Conversation) -> str:
    return f"/w/{conversation.workspace.slug}/chat/{conversation.pk}/share/"


def link_url(link: ShareLink) -> str:
    return f"/s/{link.token}/"


def share(client: Client, conversation: Conversation, **fields: str) -> ShareLink:
    """POST the conversation page's share form; the link it made."""
    before = set(ShareLink.objects.values_list("pk", flat=True))
    response = client.post(share_url(conversation), fields)
    assert response.status_code == 302, response.content
    return ShareLink.objects.exclude(pk__in=before).get()


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


@pytest.fixture
def answered(offline, app_server, team, owner) -> Conversation:  # noqa: F811
    """The owner's conversation with one question answered by the real stream (offline)."""
    ready_document(team, "maintenance.txt", f"{FILLER}\n\n{FACT}", owner)
    conversation = chat_services.create_conversation(workspace=team, user=owner)
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "How often is the valve tested?"})
    assert log.status == 200 and FACT in log.text
    return conversation

"""The frozen copy of a conversation that a share link shows, and how it is shown.

`take` copies what a reader of the answer sees (the question, the answer's Markdown, the names
of the documents it cited and the quotations it made, model and date) into plain JSON: nothing
in it points back at the conversation, a message or a document, so a link shows the same thing
after the conversation goes on, or is deleted, or its documents are. Failed answers (their
text is an error message, not an answer) and answers still being written are left out.

`render` turns the stored Markdown into HTML with the project's sanitising renderer, without
citation links: document names are plain text on a shared page. Relative links an answer may
carry (into this site, e.g. a document's page) are dropped too; only absolute http(s) and
mailto links stay, with rel="noopener noreferrer nofollow".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import nh3

from apps.chat import selectors as chat_selectors
from apps.chat.markdown import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_CLASSES,
    ALLOWED_TAGS,
    LINK_REL,
    URL_SCHEMES,
    render_markdown,
)
from apps.chat.models import Conversation, Message, Role, Status

VERSION = 1
_SHOWN = {Status.COMPLETE, Status.STOPPED, Status.INTERRUPTED}
_ABSOLUTE = ("http://", "https://", "mailto:")


class Quote(TypedDict):
    quote: str
    document: str
    found: bool


class SnapshotMessage(TypedDict):
    role: str  # "user" or "assistant"
    content: str  # the question's text, or the answer's Markdown
    status: str
    model: str
    offline: bool
    sources: list[str]  # names of the documents the answer cited
    quotes: list[Quote]
    created_at: str  # ISO 8601


class Snapshot(TypedDict):
    version: int
    title: str
    messages: list[SnapshotMessage]


def take(conversation: Conversation) -> Snapshot:
    """The conversation as it is now, as JSON for `ShareLink.snapshot`."""
    messages = [
        _message(m)
        for m in chat_selectors.conversation_messages(conversation)
        if m.role == Role.USER or (m.status in _SHOWN and m.content.strip())
    ]
    return {"version": VERSION, "title": str(conversation), "messages": messages}


def _message(message: Message) -> SnapshotMessage:
    answer = message.role == Role.ASSISTANT
    return {
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "model": message.model if answer else "",
        "offline": message.offline if answer else False,
        "sources": [str(s.get("name", "")) for s in message.cited_sources] if answer else [],
        "quotes": [_quote(q) for q in message.quotes] if answer else [],
        "created_at": message.created_at.isoformat(),
    }


def _quote(quote: dict[str, Any]) -> Quote:
    return {
        "quote": str(quote.get("quote", "")),
        "document": str(quote.get("document", "")),
        "found": bool(quote.get("found")),
    }


@dataclass(frozen=True)
class ShownMessage:
    """One message of a snapshot, ready for the template (`html` is safe, sanitised HTML)."""

    role: str
    text: str
    html: str
    status: str
    model: str
    offline: bool
    sources: list[str]
    quotes: list[Quote]

    @property
    def missing_quotes(self) -> list[Quote]:
        return [q for q in self.quotes if not q["found"]]


def render(snapshot: dict[str, Any]) -> list[ShownMessage]:
    """The stored snapshot's messages, answers rendered to sanitised HTML without links into
    the site. Tolerates rows missing a key (a snapshot is data, not code)."""
    shown = []
    for m in snapshot.get("messages", []):
        answer = m.get("role") == Role.ASSISTANT
        content = str(m.get("content", ""))
        shown.append(
            ShownMessage(
                role=Role.ASSISTANT if answer else Role.USER,
                text=content,
                html=render_answer(content) if answer else "",
                status=str(m.get("status", "")),
                model=str(m.get("model", "")),
                offline=bool(m.get("offline")),
                sources=[str(s) for s in m.get("sources", [])],
                quotes=[_quote(q) for q in m.get("quotes", [])],
            )
        )
    return shown


def render_answer(content: str) -> str:
    """An answer's Markdown as sanitised HTML with citations as plain text and no relative
    links (on a shared page a link into the workspace would only lead to a login)."""
    html = render_markdown(content, {})
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_absolute_links_only,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        allowed_classes=ALLOWED_CLASSES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties={"text-align"},
    )


def _absolute_links_only(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href" and not value.lower().startswith(_ABSOLUTE):
        return None
    return value

"""Seed data of the streaming benchmark: workspaces with documents extracted by the real upload
service and pipeline, empty conversations, and a logged-in owner's cookies."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

# 32 characters: Django accepts it unmasked.
CSRF_TOKEN = "benchcsrftoken0123456789abcdefgh"  # noqa: S105 (not a secret)


def english_manual(doc: int, tokens: int) -> str:
    return manual(
        f"Station {doc} maintenance manual",
        lambda i: (
            f"Procedure {doc}.{i}: the crew of pumping station {doc} checks seal {i % 17} on "
            f"line {i % 23}, logs a pressure of {(doc * 131 + i * 7) % 900 + 100} kPa and "
            f"replaces gasket type G-{(i * 13) % 97} when its wear exceeds {i % 9 + 1} mm."
        ),
        tokens,
    )


def chinese_manual(doc: int, tokens: int) -> str:
    return manual(
        f"第{doc}号泵站维护手册",
        lambda i: (
            f"第{doc}号泵站规程第{i}条：值班人员检查{i % 17}号密封件和{i % 23}号管线，"
            f"记录压力{(doc * 131 + i * 7) % 900 + 100}千帕；磨损超过{i % 9 + 1}毫米时更换"
            f"G-{(i * 13) % 97}型垫片。"
        ),
        tokens,
    )


def manual(title: str, paragraph: Callable[[int], str], tokens: int) -> str:
    """A title and numbered paragraphs, about ``tokens`` tokens in all."""
    from apps.moonshot.tokens import estimate_tokens

    parts, total = [], 0
    while total < tokens:
        parts.append(paragraph(len(parts)))
        total += estimate_tokens(parts[-1])
    return title + "\n\n" + "\n\n".join(parts)


@dataclass(frozen=True)
class Seed:
    slug: str
    conversations: list[int]
    cookies: str


def seed_workspace(*, name: str, documents: list[tuple[str, str]], conversations: int) -> Seed:
    """A workspace with these documents, extracted by the real upload service and pipeline
    (offline, in this process), ``conversations`` empty conversations, and a logged-in owner."""
    from apps.accounts.services import register_user
    from apps.chat.services import create_conversation
    from apps.documents.models import Status
    from apps.documents.services import ingest_upload
    from apps.workspaces.models import Membership
    from apps.workspaces.services import create_workspace

    user = register_user(email=f"{uuid.uuid4().hex[:12]}@example.com", password=uuid.uuid4().hex)
    workspace = create_workspace(owner=user, name=name)
    actor = Membership.objects.get(workspace=workspace, user=user)
    for filename, text in documents:
        upload = SimpleUploadedFile(filename, text.encode(), "text/plain")
        document = ingest_upload(actor=actor, upload=upload).document
        document.refresh_from_db()
        if document.status != Status.READY:
            raise RuntimeError(f"{filename} did not extract: {document.status}")
    ids = [create_conversation(workspace=workspace, user=user).pk for _ in range(conversations)]
    client = Client()
    client.force_login(user)
    cookies = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_TOKEN}"
    return Seed(slug=workspace.slug, conversations=ids, cookies=cookies)


@contextmanager
def offline_extraction() -> Iterator[None]:
    """Extract seed documents in this process with the local extractors: the Celery task runs
    eagerly on commit and the provider is not configured here."""
    from docqa.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    with (
        tempfile.TemporaryDirectory(prefix="docqa-bench-media-") as media,
        override_settings(MOONSHOT_API_KEY="", MEDIA_ROOT=media),
    ):
        storages = {**settings.STORAGES, "default": {**settings.STORAGES["default"]}}
        storages["default"]["OPTIONS"] = {**storages["default"]["OPTIONS"], "location": media}
        try:
            with override_settings(STORAGES=storages):
                yield
        finally:
            app.conf.task_always_eager = eager

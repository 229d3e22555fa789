"""Per-workspace limits: uploads over the document or byte limit, chat tokens per day, and the
workspace page showing usage against them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.chat import limits
from apps.chat.models import Conversation, Message
from apps.documents.models import Document
from apps.workspaces.limits import LimitReached, usage_today
from apps.workspaces.models import Workspace
from tests.test_workspace_access import login

pytestmark = pytest.mark.django_db


def stored_files(workspace: Workspace) -> list[str]:
    folder = Path(settings.MEDIA_ROOT) / "ws" / str(workspace.pk)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def upload(client, workspace: Workspace, name: str, data: bytes) -> dict:
    response = client.post(
        f"/w/{workspace.slug}/documents/upload/",
        {"file": SimpleUploadedFile(name, data)},
        headers={"Accept": "application/json"},
    )
    [result] = response.json()["results"]
    return result


def test_upload_over_the_document_limit_is_refused_and_nothing_is_stored(team, member):
    Workspace.objects.filter(pk=team.pk).update(max_documents=2)
    client = login(member)
    assert upload(client, team, "one.txt", b"first file")["ok"]
    assert upload(client, team, "two.txt", b"second file")["ok"]
    before = stored_files(team)

    refused = upload(client, team, "three.txt", b"third file")

    assert not refused["ok"]
    assert refused["message"] == (
        "three.txt was not uploaded: this workspace has reached its limit of 2 documents."
    )
    assert Document.objects.filter(workspace=team).count() == 2
    assert stored_files(team) == before
    # The same bytes again are not a new document, so the limit does not refuse them.
    again = upload(client, team, "one-again.txt", b"first file")
    assert again["ok"] and again["duplicate"]


def test_upload_over_the_byte_limit_is_refused_with_a_message_per_file(team, member):
    Workspace.objects.filter(pk=team.pk).update(max_bytes=1500)
    client = login(member)
    assert upload(client, team, "small.txt", b"x" * 1000)["ok"]
    before = stored_files(team)

    response = client.post(
        f"/w/{team.slug}/documents/upload/",
        {
            "file": [
                SimpleUploadedFile("big.txt", b"y" * 600),
                SimpleUploadedFile("fits.txt", b"z" * 400),
            ]
        },
        headers={"Accept": "application/json"},
    )

    big, fits = response.json()["results"]
    assert not big["ok"]
    assert big["message"] == (
        "big.txt was not uploaded: at 600\xa0bytes it would take this workspace over its "
        "storage limit of 1.5\xa0KB (1000\xa0bytes used)."
    )
    assert fits["ok"]
    names = set(Document.objects.filter(workspace=team).values_list("name", flat=True))
    assert names == {"small.txt", "fits.txt"}
    assert len(stored_files(team)) == len(before) + 1


def test_without_limits_uploads_are_not_counted(team, member):
    client = login(member)
    for i in range(3):
        assert upload(client, team, f"f{i}.txt", b"file %d" % i)["ok"]
    assert Document.objects.filter(workspace=team).count() == 3


def spend(workspace: Workspace, prompt: int, completion: int = 0, **extra) -> None:
    """One answered chat message of the workspace that used these tokens."""
    conversation = Conversation.objects.create(workspace=workspace)
    Message.objects.create(
        conversation=conversation,
        workspace=workspace,
        role="assistant",
        prompt_tokens=prompt,
        completion_tokens=completion,
        **extra,
    )


def test_chat_is_refused_once_todays_tokens_reach_the_limit(team):
    limits.check_chat_allowed(team)  # no limit set
    team.max_tokens_per_day = 10_000
    spend(team, 9_000, 999)
    limits.check_chat_allowed(team)
    spend(team, 1)
    with pytest.raises(LimitReached) as refused:
        limits.check_chat_allowed(team)
    assert str(refused.value) == (
        "This workspace has used its 10,000 chat tokens for today (10,000 used). "
        "Chat works again tomorrow, or ask a site administrator to raise the limit."
    )
    assert usage_today(team).tokens_today == 10_000


def test_chat_refusal_is_translated(team):
    from django.utils import translation

    spend(team, 50)
    team.max_tokens_per_day = 50
    with translation.override("zh-hans"), pytest.raises(LimitReached) as refused:
        limits.check_chat_allowed(team)
    assert "今天" in str(refused.value)


def test_tokens_today_counts_todays_chat_messages_of_the_workspace(team, owner):
    from datetime import timedelta

    from django.utils import timezone

    other = Workspace.objects.create(name="Other", slug="other")
    spend(team, 600, 150)
    spend(team, 200, 50, cached_tokens=100)
    spend(team, 5000, 5000, created_at=timezone.now() - timedelta(days=2))
    spend(other, 7000, 7000)
    assert limits.tokens_today(team) == 1000
    assert usage_today(team).tokens_today == 1000
    team.max_tokens_per_day = 1000
    with pytest.raises(LimitReached):
        limits.check_chat_allowed(team)
    team.max_tokens_per_day = 1001
    limits.check_chat_allowed(team)


def test_workspace_page_shows_usage_against_limits(team, member):
    spend(team, 4_000, 321)
    Workspace.objects.filter(pk=team.pk).update(
        max_documents=10, max_bytes=1024 * 1024, max_tokens_per_day=50_000
    )
    client = login(member)
    assert upload(client, team, "notes.txt", b"n" * 2048)["ok"]

    page = client.get(f"/w/{team.slug}/").content.decode()

    assert "Usage" in page
    assert "1 / 10" in page
    assert "2.0\xa0KB / 1.0\xa0MB" in page
    assert "4,321 / 50,000" in page
    assert 'aria-valuenow="4321"' in page


def test_workspace_page_says_no_limit_when_unlimited(team, member):
    page = login(member).get(f"/w/{team.slug}/").content.decode()
    assert page.count("no limit") == 3

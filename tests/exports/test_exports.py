"""Conversation and workspace exports: content, schema, access, and the worker's large zip."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.chat.models import Conversation, Message, Role, Status
from apps.exports import services
from apps.exports.models import ExportStatus, WorkspaceExport
from apps.workspaces.models import Workspace
from apps.workspaces.services import create_workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")

ANSWER_KEYS = {
    "id", "role", "author", "content", "status", "error_message", "model", "offline",
    "created_at", "finished_at", "ttft_ms", "usage", "sources", "quotes",
}  # fmt: skip
TOP_KEYS = {
    "schema", "exported_at", "id", "title", "workspace", "created_by", "model_choice",
    "scope_all", "documents", "created_at", "updated_at", "messages",
}  # fmt: skip


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def two_turns(workspace: Workspace, user) -> Conversation:
    conversation = Conversation.objects.create(
        workspace=workspace, created_by=user, title="Pump maintenance"
    )
    turns = [
        ("How often are valves inspected?", "Every shift [plan.pdf].", "moonshot-v1-8k"),
        ("Who reviews anomalies?", "The supervisor [notes.txt].", "moonshot-v1-32k"),
    ]
    for i, (question, answer, model) in enumerate(turns):
        Message.objects.create(
            conversation=conversation, workspace=workspace, author=user, role=Role.USER,
            content=question,
        )  # fmt: skip
        Message.objects.create(
            conversation=conversation, workspace=workspace, role=Role.ASSISTANT, content=answer,
            model=model, prompt_tokens=1200 + i, cached_tokens=100, completion_tokens=40 + i,
            cost_cny=Decimal("0.012500"),
            sources=[
                {"id": 1, "name": "plan.pdf", "narrowed": False, "cited": i == 0},
                {"id": 2, "name": "notes.txt", "narrowed": True, "cited": i == 1},
            ],
            quotes=[{"quote": "Every shift", "document": "plan.pdf", "found": True}],
        )  # fmt: skip
    return conversation


def export_url(conversation: Conversation, fmt: str) -> str:
    return reverse("exports:conversation", args=[conversation.workspace.slug, conversation.pk, fmt])


def test_markdown_has_questions_answers_sources_and_usage(team, owner, viewer):
    conversation = two_turns(team, owner)
    response = login(viewer).get(export_url(conversation, "md"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("# Pump maintenance\n")
    order = [
        "## Question", "How often are valves inspected?", "### Answer", "Every shift [plan.pdf].",
        "Sources: plan.pdf", "Also in scope, not used: notes.txt",
        "Usage: moonshot-v1-8k · 1,200 prompt tokens (100 cached) · 40 answer tokens · ¥0.012500",
        "Who reviews anomalies?", "The supervisor [notes.txt].", "Sources: notes.txt",
        "Also in scope, not used: plan.pdf", "Usage: moonshot-v1-32k · 1,201 prompt tokens",
    ]  # fmt: skip
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_json_has_every_field_under_a_stable_schema(team, owner, viewer):
    conversation = two_turns(team, owner)
    response = login(viewer).get(export_url(conversation, "json"))
    assert response.status_code == 200
    data = json.loads(response.content)
    assert set(data) == TOP_KEYS
    assert data["schema"] == "docqa.conversation/1"
    assert data["workspace"] == {"id": team.pk, "slug": team.slug, "name": team.name}
    assert data["created_by"] == {"id": owner.pk, "email": owner.email}
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"] * 2
    assert all(set(m) == ANSWER_KEYS for m in data["messages"])
    answer = data["messages"][1]
    assert answer["usage"] == {
        "prompt_tokens": 1200, "cached_tokens": 100, "completion_tokens": 40,
        "cost_cny": "0.012500",
    }  # fmt: skip
    assert answer["sources"] == [
        {"id": 1, "name": "plan.pdf", "narrowed": False, "cited": True},
        {"id": 2, "name": "notes.txt", "narrowed": True, "cited": False},
    ]
    assert answer["quotes"] == [{"quote": "Every shift", "document": "plan.pdf", "found": True}]
    assert data["messages"][0]["author"] == {"id": owner.pk, "email": owner.email}


def test_sources_saved_before_cited_was_recorded_count_as_cited(team, owner):
    conversation = two_turns(team, owner)
    Message.objects.filter(role=Role.ASSISTANT).update(sources=[{"id": 1, "name": "old.pdf"}])
    data = json.loads(login(owner).get(export_url(conversation, "json")).content)
    assert data["messages"][1]["sources"] == [
        {"id": 1, "name": "old.pdf", "narrowed": False, "cited": True}
    ]
    text = login(owner).get(export_url(conversation, "md")).content.decode()
    assert "Sources: old.pdf" in text and "not used" not in text


def _done_export(workspace: Workspace) -> WorkspaceExport:
    body = b"PK\x05\x06" + b"\0" * 18  # an empty zip
    name = default_storage.save(f"exports/{workspace.pk}/t.zip", ContentFile(body))
    return WorkspaceExport.objects.create(
        workspace=workspace,
        status=ExportStatus.DONE,
        storage_name=name,
        size=len(body),
        finished_at=timezone.now(),
    )


def test_a_foreign_workspace_member_gets_404_for_every_export_url(team, owner, outsider):
    create_workspace(owner=outsider, name="Elsewhere")  # a member, just not of this team
    conversation = two_turns(team, owner)
    export = _done_export(team)
    client = login(outsider)
    slug = team.slug
    for url in [
        export_url(conversation, "md"),
        export_url(conversation, "json"),
        reverse("exports:workspace", args=[slug]),
        reverse("exports:status", args=[slug, export.pk]),
        reverse("exports:download", args=[slug, export.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("exports:start", args=[slug])).status_code == 404


def test_an_admin_gets_404_for_another_workspaces_exports_and_conversations(team, owner, outsider):
    elsewhere = create_workspace(owner=outsider, name="Elsewhere")
    foreign_conversation = two_turns(elsewhere, outsider)
    foreign_export = _done_export(elsewhere)
    client = login(owner)
    for url in [
        reverse("exports:conversation", args=[team.slug, foreign_conversation.pk, "md"]),
        reverse("exports:status", args=[team.slug, foreign_export.pk]),
        reverse("exports:download", args=[team.slug, foreign_export.pk]),
    ]:
        assert client.get(url).status_code == 404, url


def test_viewers_and_members_export_conversations_but_not_the_workspace(
    team, owner, viewer, member
):
    conversation = two_turns(team, owner)
    export = _done_export(team)
    for user in (viewer, member):
        client = login(user)
        assert client.get(export_url(conversation, "md")).status_code == 200
        for url in [
            reverse("exports:workspace", args=[team.slug]),
            reverse("exports:status", args=[team.slug, export.pk]),
            reverse("exports:download", args=[team.slug, export.pk]),
        ]:
            assert client.get(url).status_code == 403, url
        assert client.post(reverse("exports:start", args=[team.slug])).status_code == 403
    assert not WorkspaceExport.objects.exclude(pk=export.pk).exists()


def test_the_conversation_page_links_both_exports(team, owner, viewer):
    conversation = two_turns(team, owner)
    page = login(viewer).get(reverse("chat:detail", args=[team.slug, conversation.pk]))
    assert export_url(conversation, "md") in page.content.decode()
    assert export_url(conversation, "json") in page.content.decode()


def _zip_names(body: bytes) -> set[str]:
    return set(zipfile.ZipFile(io.BytesIO(body)).namelist())


def test_a_small_workspace_gets_its_zip_at_once(team, owner):
    first = two_turns(team, owner)
    second = Conversation.objects.create(workspace=team, created_by=owner, title="")
    response = login(owner).post(reverse("exports:start", args=[team.slug]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    body = response.content
    assert _zip_names(body) == {
        "index.json", "index.md",
        f"conversations/{first.pk}-pump-maintenance.md",
        f"conversations/{first.pk}-pump-maintenance.json",
        f"conversations/{second.pk}-conversation.md",
        f"conversations/{second.pk}-conversation.json",
    }  # fmt: skip
    index = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("index.json"))
    assert index["schema"] == "docqa.workspace-export/1"
    assert [c["id"] for c in index["conversations"]] == [first.pk, second.pk]
    assert index["conversations"][0]["messages"] == 4
    assert not WorkspaceExport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_large_export_runs_in_the_worker_and_ends_downloadable(
    celery_worker, team, owner, settings
):
    settings.EXPORT_DIRECT_MAX_CONVERSATIONS = 3
    conversations = [two_turns(team, owner) for _ in range(12)]
    client = login(owner)
    response = client.post(reverse("exports:start", args=[team.slug]))
    assert response.status_code == 302
    export = WorkspaceExport.objects.get(workspace=team)
    assert export.total == 12 and export.requested_by == owner
    # A second click while it runs does not start another.
    client.post(reverse("exports:start", args=[team.slug]))
    assert WorkspaceExport.objects.filter(workspace=team).count() == 1
    # The page follows it: its status URL while it runs, its download link once done.
    page = client.get(reverse("exports:workspace", args=[team.slug])).content.decode()
    follow = reverse("exports:status", args=[team.slug, export.pk])
    assert follow in page or reverse("exports:download", args=[team.slug, export.pk]) in page

    status_url = reverse("exports:status", args=[team.slug, export.pk])
    deadline = time.monotonic() + 60
    while (status := client.get(status_url).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "done", status
    assert status["done"] == status["total"] == 12 and status["percent"] == 100
    download = client.get(status["download_url"])
    assert download.status_code == 200
    names = _zip_names(b"".join(download))
    assert len(names) == 2 * 12 + 2
    assert {f"conversations/{c.pk}-pump-maintenance.json" for c in conversations} <= names
    export.refresh_from_db()
    assert default_storage.exists(export.storage_name)


def test_zips_past_their_retention_are_deleted(team, owner, settings):
    settings.EXPORT_RETENTION_HOURS = 24
    old, fresh = _done_export(team), _done_export(team)
    WorkspaceExport.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(hours=25)
    )
    stuck = WorkspaceExport.objects.create(workspace=team, status=ExportStatus.RUNNING)
    WorkspaceExport.objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert services.delete_expired() == 2
    old.refresh_from_db()
    stuck.refresh_from_db()
    assert old.status == ExportStatus.EXPIRED and old.storage_name == ""
    assert stuck.status == ExportStatus.FAILED and stuck.error
    assert default_storage.exists(fresh.storage_name)
    client = login(owner)
    assert client.get(reverse("exports:download", args=[team.slug, old.pk])).status_code == 404
    assert client.get(reverse("exports:download", args=[team.slug, fresh.pk])).status_code == 200


def test_failed_answers_show_their_status_in_markdown(team, owner):
    conversation = two_turns(team, owner)
    Message.objects.filter(role=Role.ASSISTANT).update(
        status=Status.FAILED, error_message="The provider is busy."
    )
    text = login(owner).get(export_url(conversation, "md")).content.decode()
    assert "> Failed: The provider is busy." in text


def test_titles_in_any_script_name_the_files(team, owner):
    conversation = two_turns(team, owner)
    Conversation.objects.filter(pk=conversation.pk).update(title="泵的维护 / 2024")
    response = login(owner).get(export_url(conversation, "md"))
    assert response.status_code == 200
    assert (
        f"filename*=utf-8''{conversation.pk}-%E6%B3%B5%E7%9A%84%E7%BB%B4%E6%8A%A4-2024.md"
        in (response["Content-Disposition"])
    )
    assert response.content.decode().startswith("# 泵的维护 / 2024\n")
    body = login(owner).post(reverse("exports:start", args=[team.slug])).content
    assert f"conversations/{conversation.pk}-泵的维护-2024.json" in _zip_names(body)


def test_the_worker_writes_in_the_language_of_the_admin_who_asked(team, owner, settings):
    settings.EXPORT_DIRECT_MAX_CONVERSATIONS = 0
    two_turns(team, owner)
    client = login(owner)
    client.post(reverse("exports:start", args=[team.slug]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert WorkspaceExport.objects.get(workspace=team).language == "zh-hans"


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_was_killed_is_run_again_and_finishes(team, owner, settings):
    from tests.conftest import running_celery_worker

    from .crash_settings import CRASH_MARKER

    CRASH_MARKER.unlink(missing_ok=True)
    settings.EXPORT_DIRECT_MAX_CONVERSATIONS = 0
    conversation = two_turns(team, owner)
    client = login(owner)
    with running_celery_worker("tests.exports.crash_settings"):
        client.post(reverse("exports:start", args=[team.slug]))
        export = WorkspaceExport.objects.get(workspace=team)
        deadline = time.monotonic() + 60
        while WorkspaceExport.objects.get(pk=export.pk).in_progress:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert CRASH_MARKER.exists()  # the first run was killed
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE and export.attempts == 2
    body = b"".join(client.get(reverse("exports:download", args=[team.slug, export.pk])))
    assert f"conversations/{conversation.pk}-pump-maintenance.md" in _zip_names(body)


def test_an_export_killed_every_time_fails_instead_of_looping(team, owner, settings):
    settings.EXPORT_MAX_ATTEMPTS = 2
    export = WorkspaceExport.objects.create(
        workspace=team, status=ExportStatus.RUNNING, attempts=2, total=1
    )
    services.run_export(export.pk)
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert export.error == "The export did not finish. Please try again."

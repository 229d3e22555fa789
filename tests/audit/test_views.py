"""The audit pages: a workspace's admins see its events only, site admins see all; filters,
pages and the JSON-lines export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit import jsonl
from apps.audit.models import Action, AuditEvent
from apps.audit.services import record
from apps.workspaces.models import Role
from apps.workspaces.services import create_workspace
from tests.conftest import add_member, make_user
from tests.test_workspace_access import login

SECRET = "Secret Merger Plans.pdf"


@pytest.fixture
def two_teams(team, owner, db):
    """Events in the team, in another team (B) and of the site."""
    stranger = make_user("b-owner@example.com")
    other = create_workspace(owner=stranger, name="Team B")
    record(Action.DOCUMENT_UPLOADED, actor=owner, workspace=team, target=team, target_label="a.txt")
    record(Action.MEMBER_ROLE_CHANGED, actor=owner, workspace=team, target_label="m@example.com")
    record(Action.DOCUMENT_UPLOADED, actor=stranger, workspace=other, target_label=SECRET)
    record(Action.LOGIN, actor=stranger)
    record(Action.LOGIN_FAILED, actor_label="intruder@example.com")
    return other


def body(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def export_lines(client: Client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response).decode()  # the async stream, consumed as a sync client does
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.django_db
def test_a_workspace_admin_sees_only_their_workspace(two_teams, team, owner):
    client = login(owner)
    page = body(client, f"/w/{team.slug}/audit/")
    assert "a.txt" in page and "m@example.com" in page
    assert SECRET not in page and "b-owner@example.com" not in page
    assert "intruder@example.com" not in page  # site events are not a workspace's
    lines = export_lines(client, f"/w/{team.slug}/audit/export.jsonl")
    assert {line["workspace_id"] for line in lines} == {team.pk}
    assert SECRET not in json.dumps(lines)
    # Asking for B by the site filter's name on a workspace page changes nothing.
    lines = export_lines(client, f"/w/{team.slug}/audit/export.jsonl?workspace={two_teams.slug}")
    assert {line["workspace_id"] for line in lines} == {team.pk}


@pytest.mark.django_db
def test_members_below_admin_are_refused_and_outsiders_get_404(two_teams, team):
    for role in (Role.VIEWER, Role.MEMBER):
        user = add_member(team, f"{role}@example.com", role)
        client = login(user)
        for url in (f"/w/{team.slug}/audit/", f"/w/{team.slug}/audit/export.jsonl"):
            assert client.get(url).status_code == 403
    admin = add_member(team, "admin@example.com", Role.ADMIN)
    assert login(admin).get(f"/w/{team.slug}/audit/").status_code == 200
    outsider = login(make_user("nobody@example.com"))
    assert outsider.get(f"/w/{team.slug}/audit/").status_code == 404
    assert outsider.get(f"/w/{team.slug}/audit/export.jsonl").status_code == 404


@pytest.mark.django_db
def test_filters_by_action_group_actor_and_dates(two_teams, team, owner):
    old = AuditEvent.objects.create(
        action=Action.INVITATION_CREATED,
        workspace=team,
        actor_label="former@example.com",
        at=timezone.now() - timedelta(days=10),
    )
    client = login(owner)
    base = f"/w/{team.slug}/audit/export.jsonl"

    def actions(query: str) -> list[str]:
        return [line["action"] for line in export_lines(client, f"{base}?{query}")]

    assert actions("action=document.uploaded") == ["document.uploaded"]
    assert sorted(actions("action=member.*")) == ["member.role_changed"]
    assert actions("actor=FORMER") == ["invitation.created"]
    day = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert actions(f"since={day}&until={day}") == ["invitation.created"]
    today = timezone.localdate().isoformat()
    assert old.action not in actions(f"since={today}")
    assert len(actions("")) == 3
    # The page applies the same filters, and says so.
    page = body(client, f"/w/{team.slug}/audit/?actor=former")
    assert "former@example.com" in page and "a.txt" not in page
    # A reversed range is an error on the page and refuses the export (never a wider one).
    page = body(client, f"/w/{team.slug}/audit/?since={today}&until={day}")
    assert "The end date is before the start date." in page
    assert client.get(f"{base}?since={today}&until={day}").status_code == 400


@pytest.mark.django_db
def test_the_site_admin_sees_every_workspace_and_site_events(two_teams, team, staff):
    client = login(staff)
    page = body(client, "/ops/audit/")
    for text in ("a.txt", SECRET, "intruder@example.com", "Team B", "Research Team"):
        assert text in page
    lines = export_lines(client, "/ops/audit/export.jsonl")
    assert {line["workspace_id"] for line in lines} == {team.pk, two_teams.pk, None}
    only_b = export_lines(client, "/ops/audit/export.jsonl?workspace=team-b")
    assert [line["target"] for line in only_b] == [SECRET]
    failed = export_lines(client, "/ops/audit/export.jsonl?action=auth.login_failed")
    assert [line["actor"] for line in failed] == ["intruder@example.com"]
    assert 'href="/ops/audit/"' in body(client, "/ops/")  # the ops navigation links to it


@pytest.mark.django_db
def test_non_staff_get_404_from_the_site_log(two_teams, owner):
    client = login(owner)
    assert client.get("/ops/audit/").status_code == 404
    assert client.get("/ops/audit/export.jsonl").status_code == 404
    assert Client().get("/ops/audit/").status_code == 302


@pytest.mark.django_db
def test_newest_first_in_pages_and_in_the_export(team, owner, settings):
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            action=Action.DOCUMENT_UPLOADED,
            workspace=team,
            target_label=f"file-{i:03}.txt",
            at=now - timedelta(minutes=i),
        )
        for i in range(1201)
    )
    client = login(owner)
    first = body(client, f"/w/{team.slug}/audit/")
    assert "file-000.txt" in first and "file-049.txt" in first and "file-050.txt" not in first
    assert first.index("file-000.txt") < first.index("file-001.txt")
    assert "Page 1 of 25" in first
    second = body(client, f"/w/{team.slug}/audit/?action=document.uploaded&page=2")
    assert "file-050.txt" in second and "file-000.txt" not in second
    lines = export_lines(client, f"/w/{team.slug}/audit/export.jsonl")  # more than two batches
    assert [line["target"] for line in lines] == [f"file-{i:03}.txt" for i in range(1201)]
    assert all(list(line) == list(jsonl.KEYS) for line in lines)


@pytest.mark.django_db
def test_the_settings_page_links_to_the_audit_log(team, owner):
    page = body(login(owner), f"/w/{team.slug}/settings/")
    assert f'href="/w/{team.slug}/audit/"' in page

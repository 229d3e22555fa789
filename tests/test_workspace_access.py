"""Every URL inside a workspace: 404 for non-members, read-only for viewers."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.documents.models import Document
from apps.documents.services import ingest_upload
from apps.workspaces.models import Invitation, Membership, Role
from apps.workspaces.services import create_invitation
from tests.conftest import PASSWORD
from tests.urlwalk import workspace_routes

ROUTES = workspace_routes()


@pytest.fixture
def url_values(team, owner, member):
    """Real ids of the team's objects, so a 404 means 'not yours', not 'no such id'."""
    owner_membership = Membership.objects.get(workspace=team, user=owner)
    invitation, _ = create_invitation(actor=owner_membership, role=Role.MEMBER)
    document = ingest_upload(
        actor=owner_membership, upload=SimpleUploadedFile("notes.txt", b"team notes")
    ).document
    return {
        "slug": team.slug,
        "membership_id": Membership.objects.get(workspace=team, user=member).pk,
        "invitation_id": invitation.pk,
        "document_id": document.pk,
    }


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def test_every_workspace_route_is_covered():
    names = {r.name for r in ROUTES}
    assert {"workspaces:detail", "workspaces:members", "workspaces:invite"} <= names
    assert {"documents:list", "documents:upload", "documents:download"} <= names


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_non_member_gets_404_for_every_route(route, url_values, outsider):
    client = login(outsider)
    url = route.build(url_values)
    assert client.get(url).status_code == 404
    assert client.post(url, {"role": "owner", "name": "x", "email": "a@b.c"}).status_code == 404


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_owner_reaches_every_route(route, url_values, owner):
    """The same URLs exist for a member: the 404 above is about membership, not bad ids."""
    client = login(owner)
    url = route.build(url_values)
    assert client.get(url).status_code in {200, 302, 405}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_anonymous_is_sent_to_login(route, url_values):
    response = Client().get(route.build(url_values))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_viewer_cannot_write(route, url_values, viewer, team):
    client = login(viewer)
    before = (
        list(Membership.objects.filter(workspace=team).values_list("user_id", "role")),
        Invitation.objects.filter(workspace=team).count(),
        team.name,
        list(Document.objects.filter(workspace=team).values_list("pk", "status", "attempts")),
    )
    response = client.post(
        route.build(url_values), {"role": "owner", "name": "Hijacked", "email": "x@example.com"}
    )
    team.refresh_from_db()
    after = (
        list(Membership.objects.filter(workspace=team).values_list("user_id", "role")),
        Invitation.objects.filter(workspace=team).count(),
        team.name,
        list(Document.objects.filter(workspace=team).values_list("pk", "status", "attempts")),
    )
    if route.name == "workspaces:leave":
        # Leaving is the one thing a viewer may do to themselves.
        assert response.status_code == 302
        assert not Membership.objects.filter(workspace=team, user=viewer).exists()
        return
    assert response.status_code in {403, 405}
    assert before == after


def test_unknown_slug_is_a_clear_404(owner):
    response = login(owner).get("/w/no-such-workspace/")
    assert response.status_code == 404
    assert b"There is nothing here, or you do not have access to it." in response.content

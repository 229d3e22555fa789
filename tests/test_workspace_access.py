"""Every URL inside a workspace: 404 for non-members, read-only for viewers."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.api.models import ApiKey
from apps.api.services import create_key
from apps.chat.models import Conversation, Message
from apps.documents.models import Document
from apps.documents.services import ingest_upload
from apps.exports.models import ExportStatus, WorkspaceExport
from apps.sharing.models import ShareLink
from apps.sharing.services import create_link
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
    conversation = Conversation.objects.create(workspace=team, created_by=owner, title="Plans")
    Message.objects.create(conversation=conversation, workspace=team, role="user", content="?")
    key = create_key(actor=owner_membership, name="CI", role=Role.MEMBER).key
    export_name = default_storage.save(f"exports/{team.pk}/walk.zip", ContentFile(b"zip"))
    export = WorkspaceExport.objects.create(
        workspace=team, status=ExportStatus.DONE, storage_name=export_name, size=3
    )
    link = create_link(actor=owner_membership, conversation=conversation, visibility="public")
    return {
        "slug": team.slug,
        "membership_id": Membership.objects.get(workspace=team, user=member).pk,
        "invitation_id": invitation.pk,
        "document_id": document.pk,
        "conversation_id": conversation.pk,
        "key_id": key.pk,
        "fmt": "md",
        "export_id": export.pk,
        "link_id": link.pk,
    }


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def test_every_workspace_route_is_covered():
    names = {r.name for r in ROUTES}
    assert {"workspaces:detail", "workspaces:members", "workspaces:invite"} <= names
    assert {"documents:list", "documents:upload", "documents:download"} <= names
    assert {"chat:index", "chat:detail", "chat:ask", "chat:regenerate", "chat:scope"} <= names
    assert {"api:create_key", "api:revoke_key"} <= names
    assert {"exports:conversation", "exports:start", "exports:status", "exports:download"} <= names
    assert {"sharing:create", "sharing:list", "sharing:revoke"} <= names
    assert {"audit:workspace", "audit:workspace_export"} <= names


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


def _workspace_state(team) -> tuple:
    return (
        list(Membership.objects.filter(workspace=team).values_list("user_id", "role")),
        Invitation.objects.filter(workspace=team).count(),
        team.name,
        list(Document.objects.filter(workspace=team).values_list("pk", "status", "attempts")),
        list(
            Conversation.objects.filter(workspace=team)
            .order_by("pk")
            .values_list("pk", "title", "scope_all", "model_choice", "created_by_id")
        ),
        Message.objects.filter(workspace=team).count(),
        list(ApiKey.objects.filter(workspace=team).values_list("pk", "revoked_at")),
        list(ShareLink.objects.filter(workspace=team).values_list("pk", "revoked_at")),
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_viewer_cannot_write(route, url_values, viewer, team):
    """Viewers read everything and change nothing, except two things of their own: they may
    leave, and they may start a conversation (asking changes no document; issue 5)."""
    client = login(viewer)
    before = _workspace_state(team)
    response = client.post(
        route.build(url_values), {"role": "owner", "name": "Hijacked", "email": "x@example.com"}
    )
    team.refresh_from_db()
    after = _workspace_state(team)
    if route.name == "workspaces:leave":
        # Leaving is the one thing a viewer may do to themselves.
        assert response.status_code == 302
        assert not Membership.objects.filter(workspace=team, user=viewer).exists()
        return
    if route.name == "chat:create":
        assert response.status_code == 302
        new = Conversation.objects.get(workspace=team, created_by=viewer)
        assert response["Location"].endswith(f"/chat/{new.pk}/")
        assert before[:4] == after[:4] and before[5] == after[5]
        assert [c for c in after[4] if c[0] != new.pk] == before[4]
        return
    # Everything else, including asking in or rescoping someone else's conversation: refused.
    assert response.status_code in {403, 405}
    assert before == after


def test_unknown_slug_is_a_clear_404(owner):
    response = login(owner).get("/w/no-such-workspace/")
    assert response.status_code == 404
    assert b"There is nothing here, or you do not have access to it." in response.content


def test_pages_remember_the_workspace_but_chat_streams_do_not_write_the_session(team, owner):
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.workspaces.access import workspace_view

    def request_for(user):
        request = RequestFactory().post("/")
        SessionMiddleware(lambda r: HttpResponse()).process_request(request)
        request.user = user
        return request

    page = workspace_view()(lambda request: HttpResponse("page"))
    stream = workspace_view(remember=False)(lambda request: HttpResponse("stream"))
    request = request_for(owner)
    assert stream(request, slug=team.slug).content == b"stream"
    assert not request.session.modified
    request = request_for(owner)
    page(request, slug=team.slug)
    assert request.session.modified and request.session["last_workspace"] == team.slug
    request.session.modified = False
    page(request, slug=team.slug)  # the same workspace again: nothing to save
    assert not request.session.modified


def test_the_written_out_membership_query_answers_as_the_orm_does(team, owner, viewer, outsider):
    from django.forms.models import model_to_dict
    from django.http import Http404

    from apps.workspaces.access import resolve_membership
    from apps.workspaces.services import create_workspace

    other = create_workspace(owner=outsider, name="Other Team")
    other.max_tokens_per_day = 5_000
    other.save()
    for user, workspace in ((owner, team), (viewer, team), (outsider, other)):
        membership = resolve_membership(user, workspace.slug)
        expected = Membership.objects.select_related("workspace").get(
            workspace__slug=workspace.slug, user=user
        )
        assert model_to_dict(membership) == model_to_dict(expected)
        assert membership.joined_at == expected.joined_at and membership.user is user
        assert model_to_dict(membership.workspace) == model_to_dict(expected.workspace)
        assert membership.workspace.created_at == expected.workspace.created_at
        assert not membership._state.adding and membership._state.db == "default"
    assert resolve_membership(outsider, other.slug).workspace.max_tokens_per_day == 5_000
    for user, slug in ((outsider, team.slug), (owner, other.slug), (owner, "no-such-team")):
        with pytest.raises(Http404):
            resolve_membership(user, slug)

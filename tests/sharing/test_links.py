"""Share links end to end through Django's test client: who may make, open and revoke them,
the frozen snapshot, the public page's privacy, and expiry and revocation (410)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.chat import services as chat_services
from apps.chat.models import Conversation, Message, Role
from apps.sharing.models import ShareLink, Visibility
from apps.workspaces.models import Role as WorkspaceRole
from apps.workspaces.services import create_workspace
from tests.conftest import add_member

from .conftest import (
    FACT,
    UNQUOTED,
    ask_url,
    hrefs,
    link_url,
    login,
    share,
    share_url,
    stream,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_owner_makes_a_public_link_whose_snapshot_never_changes(
    answered, app_server, owner, member
):
    link = share(login(owner), answered, visibility="public")
    assert link.visibility == Visibility.PUBLIC and link.conversation_id == answered.pk
    assert len(link.token) >= 43 and link.expires_at is None
    first = Client().get(link_url(link))
    assert first.status_code == 200
    page = first.content.decode()
    assert FACT in page and "How often is the valve tested?" in page

    # The conversation goes on: the link still shows the one turn it was made with.
    with app_server.client(owner) as client:
        log = stream(client, ask_url(answered), {"question": "Who tests the valve at night?"})
    assert log.status == 200 and log.text
    assert Message.objects.filter(conversation=answered, role=Role.ASSISTANT).count() == 2
    again = Client().get(link_url(link)).content.decode()
    assert "Who tests the valve at night?" not in again
    assert again == page

    # And it is deleted: still the same snapshot.
    response = login(owner).post(f"/w/{answered.workspace.slug}/chat/{answered.pk}/delete/")
    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=answered.pk).exists()
    link.refresh_from_db()
    assert link.conversation_id is None
    assert Client().get(link_url(link)).content.decode() == page


def test_public_page_is_not_indexable_and_shows_no_other_workspace_data(answered, team, owner):
    other = chat_services.create_conversation(workspace=team, user=owner)
    other.title = "Secret merger plans"
    other.save(update_fields=["title"])
    link = share(login(owner), answered, visibility="public")
    response = Client().get(link_url(link))
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in page
    # The cited document is named, as text; nothing links into the workspace or elsewhere in it.
    assert "maintenance.txt" in page
    assert all(h.startswith("/static/") for h in hrefs(page)), hrefs(page)
    assert f"/w/{team.slug}/" not in page and "/documents/" not in page
    assert "Secret merger plans" not in page and team.name not in page
    # Only what the answer quoted of the document, not the rest of its text.
    assert FACT in page and UNQUOTED not in page
    assert 'class="citation"' not in page


def test_workspace_only_is_the_default_and_only_members_open_it(answered, owner, viewer, outsider):
    link = share(login(owner), answered)
    assert link.visibility == Visibility.WORKSPACE
    assert login(viewer).get(link_url(link)).status_code == 200
    assert login(owner).get(link_url(link)).status_code == 200
    assert login(outsider).get(link_url(link)).status_code == 404
    anonymous = Client().get(link_url(link))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/s/")


def test_a_member_shares_their_own_conversation(offline, app_server, team, member):
    conversation = chat_services.create_conversation(workspace=team, user=member)
    with app_server.client(member) as client:
        assert stream(client, ask_url(conversation), {"question": "Anything?"}).status == 200
    link = share(login(member), conversation, visibility="workspace", expires_in="7")
    assert link.created_by_id == member.pk and link.workspace_id == team.pk
    assert link.expires_at is not None
    left = link.expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)
    assert login(member).get(link_url(link)).status_code == 200


def test_who_may_share_follows_who_may_change_the_conversation(answered, team, member, viewer):
    """The owner's conversation: members and viewers read it but may not share it."""
    for user in (member, viewer):
        response = login(user).post(share_url(answered), {"visibility": "public"})
        assert response.status_code == 403
    assert not ShareLink.objects.exists()
    # A viewer shares a conversation they started themselves.
    own = chat_services.create_conversation(workspace=team, user=viewer)
    Message.objects.create(conversation=own, workspace=team, role=Role.USER, content="Hi?")
    assert share(login(viewer), own).created_by_id == viewer.pk


def test_an_empty_conversation_or_a_bad_form_makes_no_link(team, owner):
    empty = chat_services.create_conversation(workspace=team, user=owner)
    client = login(owner)
    response = client.post(share_url(empty), {"visibility": "public"}, follow=True)
    assert "This conversation has no messages to share yet." in response.content.decode()
    Message.objects.create(conversation=empty, workspace=team, role=Role.USER, content="Hi?")
    response = client.post(share_url(empty), {"visibility": "everyone"}, follow=True)
    assert "Choose who can open the link" in response.content.decode()
    assert not ShareLink.objects.exists()


def test_expired_link_is_a_410_page(answered, owner, member):
    public = share(login(owner), answered, visibility="public", expires_in="1")
    private = share(login(owner), answered, visibility="workspace", expires_in="1")
    ShareLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    for link, client in ((public, Client()), (private, login(member))):
        response = client.get(link_url(link))
        assert response.status_code == 410
        page = response.content.decode()
        assert "This link has expired" in page and FACT not in page
        assert response["X-Robots-Tag"] == "noindex, nofollow"
    listing = login(owner).get(f"/w/{answered.workspace.slug}/shared/").content.decode()
    assert "expired" in listing


def test_revoked_link_is_a_410_page_and_still_hides_from_outsiders(
    answered, owner, member, outsider
):
    public = share(login(owner), answered, visibility="public")
    private = share(login(owner), answered)
    client = login(owner)
    for link in (public, private):
        response = client.post(f"/w/{answered.workspace.slug}/shared/{link.pk}/revoke/")
        assert response.status_code == 302
    response = Client().get(link_url(public))
    assert response.status_code == 410
    assert "This link was revoked" in response.content.decode()
    assert FACT not in response.content.decode()
    assert login(member).get(link_url(private)).status_code == 410
    # A revoked workspace-only link tells nobody outside the workspace that it exists.
    assert login(outsider).get(link_url(private)).status_code == 404
    assert Client().get(link_url(private)).status_code == 302
    # Revoking again changes nothing.
    revoked_at = ShareLink.objects.get(pk=public.pk).revoked_at
    client.post(f"/w/{answered.workspace.slug}/shared/{public.pk}/revoke/")
    assert ShareLink.objects.get(pk=public.pk).revoked_at == revoked_at


def test_unknown_token_is_a_404(db):
    assert Client().get("/s/not-a-real-token-at-all/").status_code == 404
    assert Client().get("/s/" + "x" * 200 + "/").status_code == 404


def test_members_list_and_revoke_their_own_links_and_admins_all(offline, team, owner, member):
    mine = chat_services.create_conversation(workspace=team, user=member)
    Message.objects.create(conversation=mine, workspace=team, role=Role.USER, content="Mine?")
    theirs = chat_services.create_conversation(workspace=team, user=owner)
    Message.objects.create(conversation=theirs, workspace=team, role=Role.USER, content="Ours?")
    member_link = share(login(member), mine, visibility="public")
    owner_link = share(login(owner), theirs, visibility="public")
    listing = f"/w/{team.slug}/shared/"

    page = login(member).get(listing).content.decode()
    assert member_link.token in page and owner_link.token not in page
    page = login(owner).get(listing).content.decode()
    assert member_link.token in page and owner_link.token in page

    # A member cannot revoke the owner's link; the owner (an admin) revokes the member's.
    response = login(member).post(f"/w/{team.slug}/shared/{owner_link.pk}/revoke/")
    assert response.status_code == 403
    assert ShareLink.objects.get(pk=owner_link.pk).revoked_at is None
    assert login(owner).post(f"/w/{team.slug}/shared/{member_link.pk}/revoke/").status_code == 302
    assert ShareLink.objects.get(pk=member_link.pk).revoked_at is not None
    assert Client().get(link_url(member_link)).status_code == 410


def test_another_workspaces_member_reaches_no_link_through_their_own_workspace(
    answered, team, owner, outsider
):
    """Ids from another workspace, under the outsider's own workspace's URLs: 404 each."""
    link = share(login(owner), answered, visibility="public")
    elsewhere = create_workspace(owner=outsider, name="Elsewhere")
    add_member(elsewhere, "colleague@example.com", WorkspaceRole.MEMBER)
    client = login(outsider)
    assert client.post(f"/w/{elsewhere.slug}/chat/{answered.pk}/share/").status_code == 404
    assert client.post(f"/w/{elsewhere.slug}/shared/{link.pk}/revoke/").status_code == 404
    assert link.token not in client.get(f"/w/{elsewhere.slug}/shared/").content.decode()
    assert ShareLink.objects.get(pk=link.pk).revoked_at is None
    assert ShareLink.objects.count() == 1


def test_site_admins_revoke_links_in_the_django_admin(answered, owner):
    link = share(login(owner), answered, visibility="public")
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = login(owner)
    page = client.get("/admin/sharing/sharelink/").content.decode()
    assert answered.title in page and link.token not in page
    assert (
        link.token not in client.get(f"/admin/sharing/sharelink/{link.pk}/change/").content.decode()
    )
    assert client.get("/admin/sharing/sharelink/add/").status_code == 403
    response = client.post(
        "/admin/sharing/sharelink/",
        {"action": "revoke", "_selected_action": [link.pk]},
        follow=True,
    )
    assert "1 link revoked." in response.content.decode()
    assert Client().get(link_url(link)).status_code == 410


def test_the_share_form_shows_only_to_those_who_may_share(answered, owner, member):
    conversation_page = f"/w/{answered.workspace.slug}/chat/{answered.pk}/"
    assert "data-share-form" in login(owner).get(conversation_page).content.decode()
    assert "data-share-form" not in login(member).get(conversation_page).content.decode()


def test_a_removed_members_links_are_revoked_and_others_stay(
    offline, app_server, team, owner, member
):
    """Removed through the members page: the member's public link now says revoked (410); the
    owner's link of the same workspace still opens."""
    from apps.audit.models import AuditEvent
    from apps.workspaces.models import Membership

    conversation = chat_services.create_conversation(workspace=team, user=member)
    with app_server.client(member) as client:
        assert stream(client, ask_url(conversation), {"question": "Anything?"}).status == 200
    theirs = share(login(member), conversation, visibility="public")
    mine = share(login(owner), conversation, visibility="public")
    assert Client().get(link_url(theirs)).status_code == 200
    membership = Membership.objects.get(workspace=team, user=member)
    response = login(owner).post(f"/w/{team.slug}/members/{membership.pk}/remove/")
    assert response.status_code == 302 and not Membership.objects.filter(pk=membership.pk).exists()
    assert Client().get(link_url(theirs)).status_code == 410
    assert Client().get(link_url(mine)).status_code == 200
    revoked = AuditEvent.objects.get(action="share_link.revoked")
    assert revoked.target_id == str(theirs.pk) and revoked.details["reason"] == "member_left"

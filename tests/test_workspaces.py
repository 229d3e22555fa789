from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.workspaces.models import Invitation, Membership, Role
from apps.workspaces.services import (
    WorkspaceError,
    change_role,
    create_invitation,
    leave_workspace,
    remove_member,
)
from tests.conftest import PASSWORD, add_member, make_user


def login(user) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def membership(workspace, user) -> Membership:
    return Membership.objects.get(workspace=workspace, user=user)


def test_create_workspace_from_the_ui(owner):
    client = login(owner)
    response = client.post("/w/new/", {"name": "Legal 法务"}, follow=True)
    ws = Membership.objects.filter(user=owner, workspace__name="Legal 法务").get().workspace
    assert response.redirect_chain[-1][0] == f"/w/{ws.slug}/"
    # The switcher lists every workspace of the user, the current one marked.
    page = client.get(f"/w/{ws.slug}/").content.decode()
    for m in Membership.objects.filter(user=owner):
        assert f'href="/w/{m.workspace.slug}/"' in page
    assert f'href="/w/{ws.slug}/" aria-current="page"' in page


def test_invite_by_link_then_accept(team, owner, outsider):
    client = login(owner)
    client.post(f"/w/{team.slug}/members/invite/", {"email": "", "role": "member"})
    page = client.get(f"/w/{team.slug}/members/").content.decode()
    link = page.split('value="http://testserver')[1].split('"')[0]
    assert link.startswith("/invitations/")
    joiner = login(outsider)
    assert "Join Research Team" in joiner.get(link).content.decode()
    response = joiner.post(link)
    assert response.status_code == 302
    assert membership(team, outsider).role == Role.MEMBER
    # Reused: a clear message, no second membership.
    again = login(make_user("second@example.com")).post(link)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()


def test_invite_by_email_sends_mail_and_checks_address(team, owner):
    _inv, token = create_invitation(
        actor=membership(team, owner), role=Role.VIEWER, email="guest@example.com"
    )
    assert mail.outbox and f"/invitations/{token}/" in mail.outbox[0].body
    wrong = login(make_user("someone.else@example.com")).post(f"/invitations/{token}/")
    assert "sent to another e-mail address" in wrong.content.decode()
    guest = make_user("guest@example.com")
    login(guest).post(f"/invitations/{token}/")
    assert membership(team, guest).role == Role.VIEWER


def test_expired_invitation_is_refused_with_a_message(team, owner, outsider):
    inv, token = create_invitation(actor=membership(team, owner), role=Role.MEMBER)
    Invitation.objects.filter(pk=inv.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = login(outsider).post(f"/invitations/{token}/")
    assert response.status_code == 410
    assert "This invitation has expired" in response.content.decode()
    assert not Membership.objects.filter(workspace=team, user=outsider).exists()


def test_bogus_invitation_token(outsider):
    response = login(outsider).get("/invitations/not-a-real-token/")
    assert response.status_code == 410
    assert "not valid" in response.content.decode()


def test_anonymous_invitee_signs_up_and_comes_back(team, owner):
    _inv, token = create_invitation(actor=membership(team, owner), role=Role.MEMBER)
    client = Client()
    page = client.get(f"/invitations/{token}/").content.decode()
    assert "/accounts/signup/?next=" in page
    client.post(
        "/accounts/signup/",
        {
            "email": "fresh@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "next": f"/invitations/{token}/",
        },
    )
    client.post(f"/invitations/{token}/")
    assert Membership.objects.filter(workspace=team, user__email="fresh@example.com").exists()


def test_last_owner_cannot_leave_or_be_demoted(team, owner):
    own = membership(team, owner)
    with pytest.raises(WorkspaceError, match="last owner"):
        leave_workspace(membership=own)
    with pytest.raises(WorkspaceError, match="last owner"):
        change_role(actor=own, target=own, role=Role.ADMIN)
    response = login(owner).post(f"/w/{team.slug}/leave/", follow=True)
    assert "You are the last owner" in response.content.decode()
    assert membership(team, owner).role == Role.OWNER


def test_second_owner_lets_the_first_leave(team, owner, member):
    own = membership(team, owner)
    change_role(actor=own, target=membership(team, member), role=Role.OWNER)
    leave_workspace(membership=own)
    assert not Membership.objects.filter(workspace=team, user=owner).exists()


def test_admin_cannot_promote_to_owner_or_touch_owners(team, owner):
    admin = add_member(team, "admin@example.com", Role.ADMIN)
    plain = add_member(team, "plain@example.com", Role.MEMBER)
    actor = membership(team, admin)
    with pytest.raises(WorkspaceError):
        change_role(actor=actor, target=membership(team, plain), role=Role.OWNER)
    with pytest.raises(WorkspaceError):
        change_role(actor=actor, target=membership(team, owner), role=Role.MEMBER)
    with pytest.raises(WorkspaceError):
        remove_member(actor=actor, target=membership(team, owner))
    change_role(actor=actor, target=membership(team, plain), role=Role.VIEWER)
    assert membership(team, plain).role == Role.VIEWER


def test_member_leaves_and_admin_removes(team, owner, member, viewer):
    leave_workspace(membership=membership(team, member))
    remove_member(actor=membership(team, owner), target=membership(team, viewer))
    assert list(
        Membership.objects.filter(workspace=team).values_list("user__email", flat=True)
    ) == [owner.email]


def test_role_change_through_the_ui(team, owner, member):
    client = login(owner)
    target = membership(team, member)
    client.post(f"/w/{team.slug}/members/{target.pk}/role/", {"role": "admin"})
    assert membership(team, member).role == Role.ADMIN


def test_inviting_an_existing_member_is_refused(team, owner, member):
    with pytest.raises(WorkspaceError, match="already a member"):
        create_invitation(actor=membership(team, owner), role=Role.MEMBER, email=member.email)

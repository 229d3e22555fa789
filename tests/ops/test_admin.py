"""The Django admin: every model's list, search and change page work, and the actions act."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.sites import site as admin_site
from django.urls import reverse

from apps.accounts.models import User
from apps.documents.models import Status
from apps.moonshot.models import FileStoreQuota
from apps.workspaces.models import Invitation, Membership, Role, Workspace
from apps.workspaces.services import create_invitation
from tests.test_workspace_access import login

from .seed import seed_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(team):
    site = seed_site(team)
    User.objects.filter(pk=site.staff.pk).update(is_superuser=True)
    owner = Membership.objects.filter(workspace=team, role=Role.OWNER).first()
    create_invitation(actor=owner, role=Role.MEMBER, email="new@example.com")
    site.staff.refresh_from_db()
    return site


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize(
    "model", list(admin_site._registry), ids=lambda m: f"{m._meta.app_label}.{m.__name__}"
)
def test_every_model_lists_searches_filters_and_opens(superuser, model):
    client = login(superuser.staff)
    model_admin: admin.ModelAdmin = admin_site._registry[model]
    assert client.get(_url(model, "changelist")).status_code == 200
    if model_admin.search_fields:
        assert client.get(_url(model, "changelist"), {"q": "plan"}).status_code == 200
    assert model_admin.list_display != ("__str__",), f"{model.__name__} has no list columns"
    instance = model._default_manager.first()
    if instance is not None:
        assert client.get(_url(model, "change", instance.pk)).status_code == 200


def test_document_actions_retry_failed_and_reextract_ready(superuser):
    client = login(superuser.staff)
    ids = [d.pk for d in superuser.failed] + [superuser.ready.pk]
    url = _url(superuser.ready.__class__, "changelist")
    response = client.post(
        url, {"action": "retry_extraction", "_selected_action": ids}, follow=True
    )
    assert "2 documents queued for extraction." in response.content.decode()
    statuses = {d.pk: d.status for d in superuser.ready.__class__.objects.filter(pk__in=ids)}
    assert statuses == {
        superuser.failed[0].pk: Status.QUEUED,
        superuser.failed[1].pk: Status.QUEUED,
        superuser.ready.pk: Status.READY,
    }
    client.post(url, {"action": "reextract", "_selected_action": [superuser.ready.pk]})
    superuser.ready.refresh_from_db()
    assert superuser.ready.status == Status.QUEUED and superuser.ready.refresh_requested


def test_workspace_list_counts_members_and_documents_without_multiplying(superuser, rf, member):
    """Three documents and two members: each sum counts each row once."""
    team = superuser.team
    request = rf.get("/")
    request.user = superuser.staff
    [row] = admin_site._registry[Workspace].get_queryset(request).filter(pk=team.pk)
    documents = team.documents.all()
    assert row.n_members == Membership.objects.filter(workspace=team).count() == 2
    assert row.n_documents == documents.count() == 3
    assert row.n_bytes == sum(d.size for d in documents)


def test_workspace_list_shows_usage_and_edits_limits(superuser):
    client = login(superuser.staff)
    body = client.get(_url(Workspace, "changelist")).content.decode().replace("\xa0", " ")
    assert "3.0 MB" in body  # storage of the team's documents
    response = client.post(
        _url(Workspace, "changelist"),
        {"action": "remove_limits", "_selected_action": [superuser.team.pk]},
        follow=True,
    )
    assert "Limits removed from 1 workspace." in response.content.decode()
    superuser.team.refresh_from_db()
    assert superuser.team.max_documents is None and superuser.team.max_tokens_per_day is None
    limited = client.get(_url(Workspace, "changelist"), {"limited": "yes"}).content.decode()
    assert "Research Team" not in limited


def test_invitation_revoke_and_state(superuser):
    client = login(superuser.staff)
    body = client.get(_url(Invitation, "changelist")).content.decode()
    assert "Pending" in body
    invitation = Invitation.objects.get()
    client.post(
        _url(Invitation, "changelist"),
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert (
        "Revoked"
        in client.get(_url(Invitation, "changelist"), {"state": "revoked"}).content.decode()
    )


def test_quota_recount_and_user_deactivation(superuser, member):
    client = login(superuser.staff)
    FileStoreQuota.objects.filter(pk=1).update(files_used=99)
    client.post(_url(FileStoreQuota, "changelist"), {"action": "recount", "_selected_action": [1]})
    assert FileStoreQuota.objects.get(pk=1).files_used == 3
    client.post(
        _url(User, "changelist"),
        {"action": "deactivate", "_selected_action": [member.pk, superuser.staff.pk]},
    )
    member.refresh_from_db()
    superuser.staff.refresh_from_db()
    assert not member.is_active and superuser.staff.is_active

"""Each recorded action, done through its real page (or service, for the worker's own work),
adds exactly one audit event with the right actor, workspace and target."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from apps.api.models import ApiKey
from apps.api.services import create_key
from apps.audit.models import AuditEvent
from apps.chat.models import Conversation, Message
from apps.documents.models import Document, Status
from apps.moonshot import filestore
from apps.moonshot.models import FileStorePolicy, ReconcileRun, Retention
from apps.moonshot.reconcile import reconcile
from apps.sharing.models import ShareLink
from apps.workspaces.models import Invitation, Membership, Role
from apps.workspaces.services import create_invitation
from tests.conftest import make_user
from tests.test_workspace_access import login

from .conftest import no_event, one_event

AGENT = {"HTTP_USER_AGENT": "AuditTest/1.0"}


def assert_event(event: AuditEvent, *, actor, workspace, target: Model | None) -> None:
    assert event.actor_id == (actor.pk if actor else None)
    assert event.actor_label == (actor.email if actor else "")
    assert event.workspace_id == (workspace.pk if workspace else None)
    assert event.workspace_name == (workspace.name if workspace else "")
    if target is not None:
        assert (event.target_type, event.target_id) == (target._meta.model_name, str(target.pk))


@pytest.fixture
def owner_client(owner) -> Client:
    return login(owner)


def upload(client: Client, team, name: str = "notes.txt", body: bytes = b"team notes") -> Document:
    response = client.post(
        f"/w/{team.slug}/documents/upload/",
        {"file": SimpleUploadedFile(name, body)},
        HTTP_ACCEPT="application/json",
        **AGENT,
    )
    assert response.status_code == 200, response.content
    return Document.objects.get(workspace=team, name=name)


# --- documents ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_upload_delete_and_reextract(owner_client, team, owner):
    event = one_event(lambda: upload(owner_client, team), "document.uploaded")
    document = Document.objects.get(workspace=team)
    assert_event(event, actor=owner, workspace=team, target=document)
    assert event.target_label == "notes.txt" and event.details["size"] == 10
    assert (event.client_address, event.user_agent) == ("127.0.0.1", "AuditTest/1.0")

    no_event(lambda: upload(owner_client, team))  # the same bytes again: no new document

    Document.objects.filter(pk=document.pk).update(status=Status.FAILED)
    url = f"/w/{team.slug}/documents/{document.pk}/"
    event = one_event(lambda: owner_client.post(url + "reextract/"), "document.reextracted")
    assert_event(event, actor=owner, workspace=team, target=document)
    assert event.details["was"] == Status.FAILED

    event = one_event(lambda: owner_client.post(url + "delete/"), "document.deleted")
    assert_event(event, actor=owner, workspace=team, target=document)
    assert not Document.objects.filter(pk=document.pk).exists()


@pytest.mark.django_db
def test_an_upload_through_the_api_names_the_key(team, owner):
    membership = Membership.objects.get(workspace=team, user=owner)
    secret = create_key(actor=membership, name="CI", role=Role.MEMBER).secret
    response = Client().post(
        "/api/v1/documents",
        {"file": SimpleUploadedFile("api.txt", b"from a program")},
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="document.uploaded")
    assert_event(event, actor=owner, workspace=team, target=Document.objects.get(name="api.txt"))
    assert event.details["api_key"] == secret[:10]
    assert secret not in json.dumps(event.details)


# --- members ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_invitation_created_accepted_and_revoked(owner_client, team, owner):
    members = f"/w/{team.slug}/members/"
    event = one_event(
        lambda: owner_client.post(members + "invite/", {"role": "member", "email": ""}),
        "invitation.created",
    )
    invitation = Invitation.objects.get(workspace=team)
    assert_event(event, actor=owner, workspace=team, target=invitation)
    assert event.details["role"] == "member" and "token" not in json.dumps(event.details)

    event = one_event(
        lambda: owner_client.post(f"{members}invitations/{invitation.pk}/revoke/"),
        "invitation.revoked",
    )
    assert_event(event, actor=owner, workspace=team, target=invitation)

    membership = Membership.objects.get(workspace=team, user=owner)
    second, token = create_invitation(actor=membership, role=Role.VIEWER)
    newcomer = make_user("newcomer@example.com")
    newcomer_client = login(newcomer)
    event = one_event(lambda: newcomer_client.post(f"/invitations/{token}/"), "invitation.accepted")
    assert_event(event, actor=newcomer, workspace=team, target=second)
    assert event.details == {"role": "viewer", "joined": True}


@pytest.mark.django_db
def test_role_change_and_member_removal(owner_client, team, owner, member):
    target = Membership.objects.get(workspace=team, user=member)
    url = f"/w/{team.slug}/members/{target.pk}/"
    event = one_event(
        lambda: owner_client.post(url + "role/", {"role": "admin"}), "member.role_changed"
    )
    assert_event(event, actor=owner, workspace=team, target=target)
    assert event.target_label == member.email
    assert event.details == {"from": "member", "to": "admin"}

    event = one_event(lambda: owner_client.post(url + "remove/"), "member.removed")
    assert_event(event, actor=owner, workspace=team, target=target)
    assert not Membership.objects.filter(pk=target.pk).exists()


@pytest.mark.django_db
def test_leaving_is_recorded(team, member):
    client = login(member)
    event = one_event(lambda: client.post(f"/w/{team.slug}/leave/"), "member.left")
    assert_event(event, actor=member, workspace=team, target=None)


# --- API keys, exports, share links -------------------------------------------------------------
@pytest.mark.django_db
def test_api_key_created_and_revoked(owner_client, team, owner):
    settings_url = f"/w/{team.slug}/settings/keys/"
    response_holder = []
    event = one_event(
        lambda: response_holder.append(
            owner_client.post(settings_url, {"name": "CI", "role": "member"})
        ),
        "api_key.created",
    )
    key = ApiKey.objects.get(workspace=team)
    assert_event(event, actor=owner, workspace=team, target=key)
    body = response_holder[0].content.decode()
    secret = body.split('value="dq_', 1)[1].split('"', 1)[0]
    assert secret not in json.dumps(event.details) + event.target_label
    assert event.details["prefix"] == key.prefix

    event = one_event(
        lambda: owner_client.post(f"{settings_url}{key.pk}/revoke/"), "api_key.revoked"
    )
    assert_event(event, actor=owner, workspace=team, target=key)


@pytest.fixture
def conversation(team, owner) -> Conversation:
    conversation = Conversation.objects.create(workspace=team, created_by=owner, title="Plans")
    Message.objects.create(conversation=conversation, workspace=team, role="user", content="?")
    return conversation


@pytest.mark.django_db
def test_conversation_and_workspace_exports(owner_client, team, owner, conversation, settings):
    url = reverse("exports:conversation", args=[team.slug, conversation.pk, "json"])
    event = one_event(lambda: owner_client.get(url), "export.conversation")
    assert_event(event, actor=owner, workspace=team, target=conversation)
    assert event.details == {"format": "json"}

    start = f"/w/{team.slug}/exports/start/"
    event = one_event(lambda: owner_client.post(start), "export.workspace")  # zip in the response
    assert_event(event, actor=owner, workspace=team, target=team)
    assert event.details["mode"] == "direct"

    settings.EXPORT_DIRECT_MAX_CONVERSATIONS = 0  # now the worker's job
    event = one_event(lambda: owner_client.post(start), "export.workspace")
    assert event.details["mode"] == "worker"


@pytest.mark.django_db
def test_share_link_created_and_revoked(owner_client, team, owner, conversation):
    event = one_event(
        lambda: owner_client.post(
            f"/w/{team.slug}/chat/{conversation.pk}/share/", {"visibility": "public"}
        ),
        "share_link.created",
    )
    link = ShareLink.objects.get(workspace=team)
    assert_event(event, actor=owner, workspace=team, target=link)
    assert event.details["visibility"] == "public" and link.token not in json.dumps(event.details)

    revoke = f"/w/{team.slug}/shared/{link.pk}/revoke/"
    event = one_event(lambda: owner_client.post(revoke), "share_link.revoked")
    assert_event(event, actor=owner, workspace=team, target=link)
    no_event(lambda: owner_client.post(revoke))  # revoking twice changes, and records, nothing


# --- site admins --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_workspace_limits_change_is_in_the_workspace_log(staff, team):
    client = login(staff)
    url = f"/ops/workspaces/{team.pk}/limits/"
    fields = {"max_documents": "5", "max_megabytes": "", "max_tokens_per_day": ""}
    event = one_event(lambda: client.post(url, fields), "workspace.limits_changed")
    assert_event(event, actor=staff, workspace=team, target=team)
    assert event.details["from"]["max_documents"] is None
    assert event.details["to"]["max_documents"] == 5
    no_event(lambda: client.post(url, fields))  # saved unchanged: nothing to record


@pytest.mark.django_db
def test_retention_policy_change_is_a_site_event(staff):
    client = login(staff)
    fields = {"retention": Retention.KEEP, "keep_files": "10", "keep_megabytes": "100"}
    event = one_event(lambda: client.post("/ops/policy/", fields), "filestore.policy_changed")
    assert_event(event, actor=staff, workspace=None, target=None)
    assert event.details["to"] == {
        "retention": "keep",
        "keep_files": 10,
        "keep_bytes": 100 * 1024**2,
    }
    assert FileStorePolicy.current().retention == Retention.KEEP


@pytest.mark.django_db
def test_reconcile_and_eviction_requests_name_the_admin(staff, provider_settings):
    client = login(staff)
    event = one_event(lambda: client.post("/ops/reconcile/"), "filestore.reconcile_requested")
    assert_event(event, actor=staff, workspace=None, target=ReconcileRun.objects.get())
    event = one_event(
        lambda: client.post("/ops/evict/", {"mode": "all"}), "filestore.eviction_requested"
    )
    assert_event(event, actor=staff, workspace=None, target=None)
    assert event.details == {"mode": "all"}


@pytest.mark.django_db
def test_an_admin_retry_is_recorded_in_the_document_workspace(staff, team):
    from tests.ops.seed import failed_document

    document = failed_document(team, "broken.pdf")
    client = login(staff)
    event = one_event(
        lambda: client.post("/ops/documents/retry/", {"document": str(document.pk)}),
        "document.reextracted",
    )
    assert_event(event, actor=staff, workspace=team, target=document)
    assert event.details["by_site_admin"] is True


@pytest.mark.django_db
def test_eviction_to_stay_under_the_cap_and_a_reconcile_run_are_site_events(provider, emulator):
    slots = []
    for i in range(3):
        slot = filestore.reserve(f"document:{i}", 10, "x.txt")
        filestore.mark_uploaded(slot, provider.upload_file(slot.remote_name, b"text %d" % i).id)
        slots.append(slot)
    event = one_event(
        lambda: filestore.evict_beyond(provider, keep_files=1, keep_bytes=10**9, reason="cap"),
        "filestore.evicted",
    )
    assert_event(event, actor=None, workspace=None, target=None)
    assert event.details["reason"] == "cap" and event.details["evicted"] == 2
    assert set(event.details["remote_names"]) < {s.remote_name for s in slots}
    no_event(lambda: filestore.evict_beyond(provider, keep_files=1, keep_bytes=10**9))

    provider.upload_file("left-by-another-tool.txt", b"orphan")
    event = one_event(lambda: reconcile(provider, trigger="schedule"), "filestore.reconciled")
    run = ReconcileRun.objects.get()
    assert_event(event, actor=None, workspace=None, target=run)
    assert event.details["trigger"] == "schedule" and event.details["orphans"] == 1


@pytest.mark.django_db
def test_limit_and_policy_changes_in_the_django_admin_are_recorded(staff, team):
    from apps.accounts.models import User

    User.objects.filter(pk=staff.pk).update(is_superuser=True)
    team.max_documents = 9
    team.save(update_fields=["max_documents"])
    client = login(staff)
    event = one_event(
        lambda: client.post(
            reverse("admin:workspaces_workspace_changelist"),
            {"action": "remove_limits", "_selected_action": [team.pk]},
        ),
        "workspace.limits_changed",
    )
    assert_event(event, actor=staff, workspace=team, target=team)
    assert (event.details["from"]["max_documents"], event.details["to"]["max_documents"]) == (
        9,
        None,
    )

    policy = FileStorePolicy.current()
    url = reverse("admin:moonshot_filestorepolicy_change", args=[policy.pk])
    fields = {"retention": Retention.KEEP, "keep_files": "7", "keep_bytes": "7000"}
    event = one_event(lambda: client.post(url, fields), "filestore.policy_changed")
    assert_event(event, actor=staff, workspace=None, target=None)
    assert event.details["to"] == {"retention": "keep", "keep_files": 7, "keep_bytes": 7000}
    assert FileStorePolicy.current().keep_files == 7

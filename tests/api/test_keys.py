"""API keys: created by admins with the secret shown once, stored hashed, revoked, expired."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.api import selectors, services
from apps.api.models import ApiKey
from apps.workspaces.models import Membership, Role

from .conftest import ApiClient, make_key


def test_the_secret_is_returned_once_and_stored_only_as_a_hash(team, owner):
    admin = Membership.objects.get(workspace=team, user=owner)
    created = services.create_key(actor=admin, name=" CI   uploads ", role=Role.VIEWER)
    key = ApiKey.objects.get()
    assert key.name == "CI uploads" and key.role == Role.VIEWER and key.created_by == owner
    assert created.secret.startswith(key.prefix) and len(created.secret) > 40
    assert key.secret_hash == hashlib.sha256(created.secret.encode()).hexdigest()
    stored = [str(v) for v in ApiKey.objects.values_list().get()]
    assert not any(created.secret in value for value in stored)


def test_only_admins_create_keys_and_only_viewer_or_member_roles(team, member, owner):
    as_member = Membership.objects.get(workspace=team, user=member)
    with pytest.raises(services.ApiKeyError):
        services.create_key(actor=as_member, name="mine", role=Role.MEMBER)
    admin = Membership.objects.get(workspace=team, user=owner)
    with pytest.raises(services.ApiKeyError):
        services.create_key(actor=admin, name="too strong", role=Role.ADMIN)
    with pytest.raises(services.ApiKeyError):
        services.create_key(
            actor=admin, name="past", role=Role.MEMBER, expires_at=timezone.now() - timedelta(1)
        )


def test_a_key_acts_as_a_member_of_its_workspace_with_its_role(team, owner, viewer_key):
    actor = selectors.authenticate(viewer_key)
    assert actor.membership.workspace == team and actor.membership.user == owner
    assert actor.membership.role == Role.VIEWER and not actor.membership.can_write
    assert actor.membership.pk is None  # never saved: it is not a real membership


def test_last_used_is_written_at_most_once_a_minute(member_key, django_assert_num_queries):
    selectors.authenticate(member_key)
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # the lookup, no UPDATE
        selectors.authenticate(member_key)
    ApiKey.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    selectors.authenticate(member_key)
    assert ApiKey.objects.get().last_used_at > first


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"revoked_at": timezone.now()}, "revoked_key"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired_key"),
    ],
)
def test_revoked_and_expired_keys_get_401_json(team, member_key, change, code):
    ApiKey.objects.update(**change)
    response = ApiClient(member_key).get("/api/v1/documents")
    assert response.status_code == 401
    assert response.json()["code"] == code and response.json()["message"]


def test_unknown_and_missing_keys_get_401_json(db):
    unknown = ApiClient("dq_not-a-key").get("/api/v1/documents")
    assert unknown.status_code == 401 and unknown.json()["code"] == "invalid_key"
    missing = ApiClient(None).get("/api/v1/documents")
    assert missing.status_code == 401 and missing.json()["code"] == "missing_key"
    assert missing["WWW-Authenticate"] == "Bearer"


def test_admin_creates_lists_and_revokes_keys_in_the_settings_page(team, owner):
    client = Client()
    client.force_login(owner)
    response = client.post(
        f"/w/{team.slug}/settings/keys/",
        {"name": "Sync job", "role": "viewer", "expires_on": "2999-01-01"},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get()
    secret = response.context["new_secret"]
    assert secret in response.content.decode() and selectors.authenticate(secret).key == key
    assert key.expires_at.year == 2999 and key.role == Role.VIEWER
    page = client.get(f"/w/{team.slug}/settings/").content.decode()
    assert "Sync job" in page and key.prefix in page and secret not in page
    client.post(f"/w/{team.slug}/settings/keys/{key.pk}/revoke/")
    assert ApiKey.objects.get().revoked_at is not None
    assert ApiClient(secret).get("/api/v1/documents").status_code == 401


def test_settings_page_refuses_a_bad_key_form_and_non_admins(team, owner, member, other_team):
    client = Client()
    client.force_login(owner)
    response = client.post(f"/w/{team.slug}/settings/keys/", {"name": "", "role": "owner"})
    assert response.status_code == 400 and not ApiKey.objects.exists()
    client.force_login(member)
    assert client.post(f"/w/{team.slug}/settings/keys/", {"name": "x"}).status_code == 403
    foreign = make_key(other_team)
    foreign_id = ApiKey.objects.get(workspace=other_team).pk
    client.force_login(owner)
    assert client.post(f"/w/{team.slug}/settings/keys/{foreign_id}/revoke/").status_code == 404
    assert selectors.authenticate(foreign).key.revoked_at is None


def test_log_lines_never_carry_an_api_key(member_key):
    from apps.core.logging import RedactSecretsFilter

    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "a script sent %s in a query string", (member_key,), None
    )
    RedactSecretsFilter().filter(record)
    assert member_key not in record.getMessage() and "[redacted]" in record.getMessage()


def test_site_admins_revoke_keys_in_the_django_admin(team, member_key, owner):
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client = Client()
    client.force_login(owner)
    key = ApiKey.objects.get()
    page = client.get("/admin/api/apikey/").content.decode()
    assert key.prefix in page and key.secret_hash not in page
    assert client.get("/admin/api/apikey/add/").status_code == 403
    client.post(
        "/admin/api/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    assert ApiKey.objects.get().revoked_at is not None
    assert ApiClient(member_key).get("/api/v1/usage").status_code == 401

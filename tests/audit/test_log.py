"""The audit log's storage rules: append-only in Postgres, purge past retention, and a failed
write that never breaks the action it records."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.audit import services, tasks
from apps.audit.models import Action, AuditEvent
from apps.workspaces.models import Membership, Role
from tests.conftest import PASSWORD, make_user
from tests.test_workspace_access import login

from .conftest import one_event


def _event(**fields) -> AuditEvent:
    event = services.record(Action.DOCUMENT_UPLOADED, **fields)
    assert event is not None
    return event


# --- append-only --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_update_is_refused_by_the_database(team, owner):
    event = _event(actor=owner, workspace=team, details={"size": 1})
    for change in (
        {"action": "document.deleted"},
        {"actor_label": "someone-else@example.com"},
        {"details": {"size": 2}},
        {"at": timezone.now() - timedelta(days=1)},
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(**change)
    event.refresh_from_db()
    assert (event.action, event.actor_label, event.details) == (
        "document.uploaded",
        owner.email,
        {"size": 1},
    )


@pytest.mark.django_db
def test_a_plain_delete_is_refused_by_the_database(team, owner):
    event = _event(actor=owner, workspace=team)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_deleting_the_actor_or_workspace_keeps_the_event_and_its_labels(team, owner):
    """Django's SET_NULL is the one UPDATE the trigger lets through."""
    other = make_user("leaver@example.com")
    event = _event(actor=other, workspace=team, target=team)
    other.delete()
    team.delete()
    event.refresh_from_db()
    assert event.actor_id is None and event.workspace_id is None
    assert (event.actor_label, event.workspace_name, event.workspace_slug) == (
        "leaver@example.com",
        "Research Team",
        "research-team",
    )


# --- retention ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_purge_removes_only_events_past_retention(settings, team, owner):
    settings.DOCQA_AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    old = [_event(actor=owner, workspace=team) for _ in range(3)]
    AuditEvent.objects.bulk_create(  # rows as they were written long ago (bulk: no trigger)
        AuditEvent(action="document.deleted", at=now - timedelta(days=31 + i)) for i in range(3)
    )
    kept_edge = AuditEvent.objects.create(action="member.removed", at=now - timedelta(days=29))
    assert tasks.purge_expired() == 3  # the beat task, through the one purge path
    left = set(AuditEvent.objects.values_list("action", flat=True))
    assert left == {"document.uploaded", "member.removed", "audit.purged"}
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in old]).count() == 3
    assert AuditEvent.objects.filter(pk=kept_edge.pk).exists()
    purged = AuditEvent.objects.get(action="audit.purged")
    assert purged.details["deleted"] == 3 and purged.workspace_id is None
    assert tasks.purge_expired() == 0  # a rerun finds nothing


@pytest.mark.django_db
def test_retention_zero_keeps_everything(settings):
    settings.DOCQA_AUDIT_RETENTION_DAYS = 0
    AuditEvent.objects.create(action="document.deleted", at=timezone.now() - timedelta(days=4000))
    assert services.purge_expired() == 0
    assert AuditEvent.objects.count() == 1


def test_the_purge_is_scheduled_by_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit.purge_expired"]
    assert entry["task"] == "audit.purge_expired" and entry["schedule"] <= 24 * 3600
    assert settings.DOCQA_AUDIT_RETENTION_DAYS == 365


# --- a failed write never breaks the action -----------------------------------------------------
@pytest.mark.django_db
def test_a_failing_audit_write_does_not_break_the_role_change(team, owner, member, caplog):
    """The audit table is gone (dropped in this test's transaction): the INSERT fails for real,
    inside its savepoint; the role change commits its part and the page says it worked."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE audit_auditevent")
    target = Membership.objects.get(workspace=team, user=member)
    response = login(owner).post(
        f"/w/{team.slug}/members/{target.pk}/role/", {"role": Role.ADMIN}, follow=True
    )
    assert response.status_code == 200
    assert "Role changed." in response.content.decode()
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    assert "audit event member.role_changed not recorded: ProgrammingError" in caplog.text
    assert member.email not in caplog.text  # the log names the action, never the values


@pytest.mark.django_db
def test_a_failing_audit_write_outside_a_transaction_is_swallowed_too(team, owner):
    """An unencodable detail (a NUL character, which Postgres refuses in jsonb) fails the
    INSERT itself; record returns None and raises nothing."""
    assert services.record(Action.DOCUMENT_UPLOADED, actor=owner, details={"x": "a\x00b"}) is None
    with transaction.atomic():
        assert services.record(Action.LOGIN, actor=owner, details={"x": "\x00"}) is None
        Membership.objects.filter(workspace=team, user=owner).update(role=Role.OWNER)  # still ok
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_rolled_back_action_leaves_no_event(team, owner):
    def action() -> None:
        with transaction.atomic():
            _event(actor=owner, workspace=team)
            raise RuntimeError("the action failed after recording")

    with pytest.raises(RuntimeError):
        action()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_overlong_values_are_cut_to_fit_not_refused(team, owner):
    event = _event(actor=owner, workspace=team, target=team, target_label="x" * 999)
    assert len(event.target_label) == 200


# --- sign-in ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_sign_in_failed_sign_in_and_sign_out_are_recorded(client, owner):
    agent = {"HTTP_USER_AGENT": "Mozilla/5.0 (audit test) " + "y" * 400}
    wrong = "wrong password 123"

    failed = one_event(
        lambda: client.post(
            "/accounts/login/", {"username": owner.email, "password": wrong}, **agent
        ),
        "auth.login_failed",
    )
    assert failed.actor_id is None and failed.workspace_id is None
    assert failed.actor_label == owner.email and failed.details == {"username": owner.email}
    assert failed.client_address == "127.0.0.1" and len(failed.user_agent) == 300
    assert wrong not in json.dumps(failed.details) + failed.actor_label + failed.target_label

    signed_in = one_event(
        lambda: client.post(
            "/accounts/login/", {"username": owner.email, "password": PASSWORD}, **agent
        ),
        "auth.login",
    )
    assert signed_in.actor_id == owner.pk and signed_in.actor_label == owner.email
    assert signed_in.workspace_id is None and signed_in.target_id == str(owner.pk)
    assert PASSWORD not in json.dumps(signed_in.details)

    signed_out = one_event(lambda: client.post("/accounts/logout/"), "auth.logout")
    assert signed_out.actor_id == owner.pk


@pytest.mark.django_db
def test_a_sign_in_refused_by_the_throttle_is_recorded_as_failed(client, owner, settings):
    for _attempt in range(30):
        response = client.post(
            "/accounts/login/", {"username": owner.email, "password": "wrong-Pw-77"}
        )
        if "Too many failed attempts" in response.content.decode():
            break
    else:
        raise AssertionError("the throttle never locked")
    [throttled] = AuditEvent.objects.filter(action="auth.login_failed", details__throttled=True)
    assert throttled.actor_label == owner.email and "wrong-Pw-77" not in json.dumps(
        throttled.details
    )

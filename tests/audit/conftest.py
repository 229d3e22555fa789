"""Audit-log helpers: the events a step added, and a signed-in site admin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from tests.conftest import make_user


@contextmanager
def new_events() -> Iterator[list[AuditEvent]]:
    """Yield a list filled, on leaving the block, with the events the block recorded."""
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    found: list[AuditEvent] = []
    yield found
    found.extend(AuditEvent.objects.exclude(pk__in=before).order_by("pk"))


def one_event(step: Callable[[], Any], action: str) -> AuditEvent:
    """Run ``step``; assert it recorded exactly one event, of ``action``; return it."""
    with new_events() as events:
        step()
    assert [e.action for e in events] == [action]
    return events[0]


@pytest.fixture
def staff(db):
    user = make_user("staff@example.com", "Site Admin")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def no_event(step: Callable[[], Any]) -> None:
    """Run ``step``; assert it recorded nothing."""
    with new_events() as events:
        step()
    assert events == []

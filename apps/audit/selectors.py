"""Reads for the audit log: events of a workspace or of the site, filtered, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import AuditEvent


@dataclass(frozen=True)
class EventFilter:
    action: str = ""  # an action code, or "group.*" for every action of a group
    actor: str = ""  # part of the actor's label (e-mail), case-insensitive
    since: date | None = None  # first day included (site time zone)
    until: date | None = None  # last day included
    workspace: str = ""  # site view only: the workspace's slug, or part of its name

    @property
    def active(self) -> bool:
        return any((self.action, self.actor, self.since, self.until, self.workspace))


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def events(*, workspace: Any = None, filters: EventFilter | None = None) -> QuerySet[AuditEvent]:
    """The events of ``workspace`` (every event of the site when None: only site admins may
    ask for that), narrowed by ``filters``, newest first."""
    qs = AuditEvent.objects.all()
    if workspace is not None:
        qs = qs.filter(workspace_id=workspace.pk)
    f = filters or EventFilter()
    if f.action.endswith(".*"):
        qs = qs.filter(action__startswith=f.action[:-1])
    elif f.action:
        qs = qs.filter(action=f.action)
    if f.actor:
        qs = qs.filter(actor_label__icontains=f.actor)
    if f.since:
        qs = qs.filter(at__gte=_day_start(f.since))
    if f.until:
        qs = qs.filter(at__lt=_day_start(f.until + timedelta(days=1)))
    if f.workspace and workspace is None:
        qs = qs.filter(Q(workspace_slug=f.workspace) | Q(workspace_name__icontains=f.workspace))
    return qs.order_by("-at", "-pk")

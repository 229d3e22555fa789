"""The reconcile sweep: match the provider's file list against the ledger and repair both sides.

What it finds, and what it does (each item is written to ``ReconcileRun.findings`` for the
dashboard):

- a remote file no held ledger row knows is an *orphan*. One named after a row the app already
  released (``docqa-<uuid>``, e.g. uploaded by a run killed before it could save the id) is
  deleted at once; one an admin picked on the dashboard is deleted; any other (another tool on
  the same key, a lost database) is deleted once older than the grace period under the default
  ``MOONSHOT_ORPHAN_POLICY=delete``, and only reported under ``report``;
- a RESERVED row whose upload did reach the provider (killed before the id was saved) is
  *adopted* by its unique remote name, at once, no grace;
- an UPLOADED row whose file is gone is released ("vanished"); a RESERVED row with no file is
  released when nothing is extracting for its owner (or past the grace period);
- a held copy nothing needs any more (its document was deleted, or is finished under the
  "delete" policy) is queued for release and deleted in the same run.

Who needs a copy is answered by the app that owns it (``register_owner_kind``; documents do it
in their AppConfig), so this module never imports the documents app.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Collection
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.audit import services as audit
from apps.audit.models import Action

from . import filestore
from .client import MoonshotClient
from .models import FileStorePolicy, ReconcileRun, RemoteFile, RemoteFileState, Retention
from .types import RemoteFile as RemoteFileInfo

logger = logging.getLogger(__name__)


class OwnerState(enum.StrEnum):
    BUSY = "busy"  # being extracted or waiting to be: its copy is in use
    IDLE = "idle"  # finished: its copy is only a cache (kept under "keep", deleted under "delete")
    GONE = "gone"  # deleted: its copy must go


OwnerCheck = Callable[[Collection[str]], dict[str, OwnerState]]
_owner_checks: dict[str, OwnerCheck] = {}


def register_owner_kind(kind: str, check: OwnerCheck) -> None:
    """``check`` maps owner ids (the part after ``kind:``) to their state; ids it leaves out
    are GONE. Owners of an unregistered kind are treated as BUSY: never touched."""
    _owner_checks[kind] = check


def owner_states(owners: Collection[str]) -> dict[str, OwnerState]:
    by_kind: dict[str, list[str]] = {}
    for owner in owners:
        kind, _sep, ident = owner.partition(":")
        by_kind.setdefault(kind, []).append(ident)
    states: dict[str, OwnerState] = {}
    for kind, idents in by_kind.items():
        check = _owner_checks.get(kind)
        found = check(idents) if check else {i: OwnerState.BUSY for i in idents}
        for ident in idents:
            states[f"{kind}:{ident}"] = found.get(ident, OwnerState.GONE)
    return states


def reconcile(
    client: MoonshotClient,
    *,
    trigger: str = "schedule",
    run: ReconcileRun | None = None,
    delete_ids: Collection[str] = (),
) -> ReconcileRun:
    """One sweep (see the module docstring). ``run`` is a row the dashboard created when the
    admin asked, so the request shows at once; ``delete_ids`` are orphans the admin chose to
    delete (ignored unless they are still orphans now). Raises the provider error after
    recording it on the run."""
    run = run or ReconcileRun.objects.create(trigger=trigger)
    run.started_at = timezone.now()
    run.save(update_fields=["started_at"])
    findings: dict[str, list] = {"orphans": [], "adopted": [], "vanished": [], "released": []}
    try:
        listed_at = timezone.now()
        remote = client.list_files()
        run.remote_count = len(remote)
        run.remote_bytes = sum(f.bytes for f in remote)
        held = list(RemoteFile.objects.filter(state__in=filestore.HOLDING))
        by_id = {s.remote_id: s for s in held if s.remote_id}
        by_name = {s.remote_name: s for s in held}
        seen: set[int] = set()
        orphans: list[RemoteFileInfo] = []
        for item in remote:
            slot = by_id.get(item.id)
            named = by_name.get(item.filename)
            if slot is None and named is not None and not named.remote_id:
                slot = named  # our upload whose id was never saved: adopted below
            if slot is None:
                orphans.append(item)
                continue
            seen.add(slot.pk)
            if not slot.remote_id:
                filestore.mark_uploaded(slot, item.id)
                findings["adopted"].append(slot.remote_name)
        _handle_orphans(client, run, orphans, set(delete_ids), set(by_name), findings)
        _repair_missing(run, held, seen, listed_at, findings)
        run.copies_released = _release_unneeded(client, findings)
        filestore.recount()
    except Exception as exc:
        run.error = str(exc)[:2000]
        logger.exception("Reconcile failed")
        raise
    finally:
        run.findings = findings
        run.finished_at = timezone.now()
        run.save()
        _record(run, findings)
    return run


def _record(run: ReconcileRun, findings: dict[str, list]) -> None:
    """One site-level audit event per sweep: what it counted and changed (the full findings
    stay on the run)."""
    audit.record(
        Action.RECONCILED,
        target=run,
        target_label=f"reconcile #{run.pk}",
        details={
            "trigger": run.trigger,
            "remote_count": run.remote_count,
            "orphans": len(findings["orphans"]),
            "orphans_deleted": run.orphans_deleted,
            "adopted": len(findings["adopted"]),
            "vanished": len(findings["vanished"]),
            "released": run.copies_released,
            "error": run.error[:200],
        },
    )


def _handle_orphans(
    client: MoonshotClient,
    run: ReconcileRun,
    orphans: list[RemoteFileInfo],
    delete_ids: set[str],
    held_names: set[str],
    findings: dict[str, list],
) -> None:
    """Delete or report files the ledger does not hold. A file named like one of ours (a
    `docqa-<uuid>` name the app released, or a second upload under the name of a row that holds
    another id: a killed run's upload that landed after its re-run uploaded again) is ours to
    delete at once; anything else waits out the grace period."""
    grace = settings.MOONSHOT_RECONCILE_GRACE_SECONDS
    now = timezone.now().timestamp()
    released_names = set(
        RemoteFile.objects.filter(
            state=RemoteFileState.DELETED, remote_name__in=[o.filename for o in orphans]
        ).values_list("remote_name", flat=True)
    )
    run.orphans_found = len(orphans)
    for item in orphans:
        age = max(int(now - item.created_at), 0)
        if item.filename in released_names:
            action = "deleted_released"  # a copy the app had already released
        elif item.filename in held_names:
            action = "deleted_duplicate"  # a second upload of a file the ledger holds
        elif item.id in delete_ids:
            action = "deleted_by_admin"
        elif settings.MOONSHOT_ORPHAN_POLICY == "delete" and age >= grace:
            action = "deleted_old"  # older than the grace period
        elif settings.MOONSHOT_ORPHAN_POLICY == "delete":
            action = "kept_young"  # younger than the grace period: deleted by a later run
        else:
            action = "kept_report"  # the orphan policy only reports
        deleted = action.startswith("deleted")
        if deleted:
            client.delete_file(item.id)
            run.orphans_deleted += 1
        findings["orphans"].append(
            {
                "id": item.id,
                "filename": item.filename,
                "bytes": item.bytes,
                "age": age,
                "purpose": item.purpose,
                "action": action,
                "deleted": deleted,
            }
        )


def _repair_missing(
    run: ReconcileRun,
    held: list[RemoteFile],
    seen: set[int],
    listed_at,
    findings: dict[str, list],
) -> None:
    """Rows the list did not show. Only rows older than the list call are judged: one that
    changed after it (an upload that finished meanwhile) is left for the next run."""
    grace_start = listed_at - timedelta(seconds=settings.MOONSHOT_RECONCILE_GRACE_SECONDS)
    missing = [s for s in held if s.pk not in seen]
    states = owner_states({s.owner for s in missing})
    for slot in missing:
        fresh = RemoteFile.objects.filter(pk=slot.pk).first()
        if fresh is None or fresh.state not in filestore.HOLDING:
            continue
        if fresh.state == RemoteFileState.UPLOADED:
            if (fresh.uploaded_at or fresh.reserved_at) < listed_at:
                filestore.release(fresh, note="vanished from the provider")
                run.vanished_repaired += 1
                findings["vanished"].append(fresh.remote_name)
        elif fresh.reserved_at < listed_at and (
            states[fresh.owner] != OwnerState.BUSY or fresh.reserved_at <= grace_start
        ):
            filestore.release(fresh, note="reservation never reached the provider")
            run.reservations_released += 1


def _release_unneeded(client: MoonshotClient, findings: dict[str, list]) -> int:
    """Queue copies nobody needs (owner gone; finished under "delete"), then delete what is due."""
    held = list(
        RemoteFile.objects.filter(state__in=filestore.HOLDING, release_requested_at__isnull=True)
    )
    states = owner_states({s.owner for s in held})
    deleting = FileStorePolicy.current().retention == Retention.DELETE
    for slot in held:
        state = states[slot.owner]
        if state == OwnerState.GONE or (state == OwnerState.IDLE and deleting):
            filestore.request_release(slot=slot)
    due = set(
        RemoteFile.objects.filter(
            state__in=filestore.HOLDING,
            release_requested_at__isnull=False,
            next_release_at__lte=timezone.now(),
        ).values_list("remote_name", flat=True)
    )
    released = filestore.release_due(client)
    gone = RemoteFile.objects.filter(remote_name__in=due, state=RemoteFileState.DELETED)
    findings["released"] = sorted(gone.values_list("remote_name", flat=True))
    return released

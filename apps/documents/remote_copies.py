"""Which provider copies documents still need, and releasing the ones they do not.

The file-store ledger (``apps.moonshot``) names each slot's owner ``document:<pk>`` but knows
nothing of documents; this module answers for them (registered in ``DocumentsConfig.ready``)
and queues the release of a document's copies when it is deleted -- by a user, an admin, or a
cascade from its workspace -- or fails without its strategy cleaning up after it.
"""

from __future__ import annotations

from collections.abc import Collection

from apps.moonshot import filestore
from apps.moonshot.reconcile import OwnerState

from .models import FINAL, Document


def owner(document_id: int) -> str:
    return f"document:{document_id}"


def document_owner_states(idents: Collection[str]) -> dict[str, OwnerState]:
    """BUSY while queued or being extracted, IDLE when finished; missing ids are GONE."""
    ids = [int(i) for i in idents if i.isdigit()]
    rows = Document.objects.filter(pk__in=ids).values_list("pk", "status")
    return {str(pk): OwnerState.IDLE if status in FINAL else OwnerState.BUSY for pk, status in rows}


def release_for(document_id: int) -> None:
    """Queue this document's held copies for deletion at the provider (on commit)."""
    from apps.moonshot.tasks import schedule_release

    if filestore.request_release(owner=owner(document_id)):
        schedule_release()


def on_document_deleted(sender, instance: Document, **_kwargs) -> None:
    """post_delete: every way a document goes (service, admin, workspace cascade) releases
    its remote copies. Inside the deleting transaction, so a rollback keeps them."""
    release_for(instance.pk)

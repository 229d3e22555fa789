"""The workspace document and storage limits, checked at upload (their one caller)."""

from __future__ import annotations

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from apps.workspaces.limits import LimitReached
from apps.workspaces.models import Workspace

from .models import Document


def stored_totals(workspace: Workspace) -> tuple[int, int]:
    """(documents, bytes) the workspace stores: every document counts, failed ones too, since
    their originals take the same space."""
    totals = Document.objects.filter(workspace=workspace).aggregate(
        n=Count("pk"), size=Coalesce(Sum("size"), 0)
    )
    return int(totals["n"]), int(totals["size"])


def has_upload_limits(workspace: Workspace) -> bool:
    return workspace.max_documents is not None or workspace.max_bytes is not None


def check_upload_allowed(workspace: Workspace, *, name: str, size: int) -> None:
    """Raise LimitReached when one more file of ``size`` bytes would break the workspace's
    document or storage limit. The message names the file, so a batch upload says which files
    were refused.

    Called twice by the upload service: before the file is stored (cheap refusal) and again with
    the workspace row locked, so two concurrent uploads cannot both take the last place.
    """
    if not has_upload_limits(workspace):
        return
    documents, used = stored_totals(workspace)
    if workspace.max_documents is not None and documents + 1 > workspace.max_documents:
        raise LimitReached(
            _(
                "%(name)s was not uploaded: this workspace has reached its limit of "
                "%(limit)s documents."
            )
            % {"name": name, "limit": workspace.max_documents}
        )
    if workspace.max_bytes is not None and used + size > workspace.max_bytes:
        raise LimitReached(
            _(
                "%(name)s was not uploaded: at %(size)s it would take this workspace over its "
                "storage limit of %(limit)s (%(used)s used)."
            )
            % {
                "name": name,
                "size": filesizeformat(size),
                "limit": filesizeformat(workspace.max_bytes),
                "used": filesizeformat(used),
            }
        )

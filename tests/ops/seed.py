"""A site with figures to show: a workspace with ready and failed documents, a ledger holding
remote files, a finished reconcile run, and a second workspace only staff may see."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import User
from apps.documents.models import Document, ExtractedText, Status
from apps.moonshot import filestore
from apps.moonshot.models import ReconcileRun, RemoteFile, RemoteFileState
from apps.workspaces.models import Workspace
from apps.workspaces.services import create_workspace
from tests.conftest import make_user

FAILED_NAME = "broken-scan.pdf"
SECRET_WORKSPACE = "Secret Lab Seven"


@dataclass
class Site:
    staff: User
    team: Workspace
    secret: Workspace
    ready: Document
    failed: list[Document]
    run: ReconcileRun


def _sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def document(workspace: Workspace, name: str, size: int, **fields) -> Document:
    return Document.objects.create(
        workspace=workspace,
        name=name,
        storage_name=f"ws/{workspace.pk}/{name}",
        size=size,
        sha256=_sha(f"{workspace.pk}/{name}"),
        extension=name.rsplit(".", 1)[-1],
        mime_type="application/octet-stream",
        **fields,
    )


def failed_document(workspace: Workspace, name: str) -> Document:
    return document(
        workspace,
        name,
        4096,
        status=Status.FAILED,
        attempts=3,
        failure_code="unreadable",
        failure_reason="The file could not be read: it may be damaged or password-protected.",
    )


def seed_site(team: Workspace) -> Site:
    staff = make_user("staff@example.com", "Sam Staff")
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    staff.refresh_from_db()
    Workspace.objects.filter(pk=team.pk).update(
        max_documents=20, max_bytes=50 * 1024**2, max_tokens_per_day=100_000
    )
    team.refresh_from_db()
    text = ExtractedText.objects.create(
        sha256=_sha("plan"), text="The plan.", token_count=12_345, extractor="local"
    )
    ready = document(team, "plan.pdf", 3 * 1024**2, status=Status.READY, text=text)
    failed = [failed_document(team, FAILED_NAME), failed_document(team, "corrupt.docx")]
    secret = create_workspace(owner=staff, name=SECRET_WORKSPACE)
    document(secret, "notes.txt", 1000, status=Status.QUEUED)

    for i in range(3):
        slot = filestore.reserve(f"document:seed-{i}", 1_000_000, "kept.pdf")
        filestore.mark_uploaded(slot, f"file-seed-{i}")
    RemoteFile.objects.create(
        owner="document:gone",
        remote_name="docqa-gone.pdf",
        size=5,
        state=RemoteFileState.DELETED,
    )
    filestore.recount()
    now = timezone.now()
    run = ReconcileRun.objects.create(
        started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=4),
        trigger="schedule",
        remote_count=7,
        remote_bytes=7_340_032,
        orphans_deleted=4,
        vanished_repaired=1,
        reservations_released=0,
    )
    return Site(staff=staff, team=team, secret=secret, ready=ready, failed=failed, run=run)

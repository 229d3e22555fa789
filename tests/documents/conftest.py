from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.workspaces.models import Membership, Workspace


@pytest.fixture(autouse=True, scope="session")
def _fresh_media_root() -> None:
    """Start each run with an empty test media folder, so 'nothing stored' checks are exact."""
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def stored_files(workspace: Workspace) -> list[str]:
    folder = Path(settings.MEDIA_ROOT) / "ws" / str(workspace.pk)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


@pytest.fixture
def owner_membership(team, owner) -> Membership:
    return Membership.objects.get(workspace=team, user=owner)

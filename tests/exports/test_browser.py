"""The workspace export in Chromium: start it, watch its progress, download the zip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import zipfile
from pathlib import Path

import pytest

from apps.chat.models import Conversation
from apps.exports.models import ExportStatus, WorkspaceExport
from tests.browser import ARTIFACTS, log_in
from tests.conftest import PASSWORD

from .test_exports import two_turns

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]


@pytest.fixture
def worker_threshold(monkeypatch) -> None:
    """Listed before live_app: the app's process reads it from its environment at start."""
    monkeypatch.setenv("EXPORT_DIRECT_MAX_CONVERSATIONS", "3")


def test_an_admin_exports_the_workspace_and_sees_progress_then_the_download(
    worker_threshold,
    live_app,
    celery_worker: subprocess.Popen[bytes],
    browser_page,
    team,
    owner,
    tmp_path,
):
    conversations = [two_turns(team, owner) for _ in range(8)]
    page = browser_page
    log_in(page, live_app, owner.email, PASSWORD)
    page.goto(f"{live_app}/w/{team.slug}/settings/")
    page.click("[data-workspace-export]")
    page.wait_for_selector("[data-export-start]")
    assert "8 conversations" in page.inner_text("main")

    # The worker is paused (a busy worker), so the export waits queued with its progress shown.
    os.kill(celery_worker.pid, signal.SIGSTOP)
    try:
        page.click("[data-export-start]")
        page.wait_for_selector("[data-export-progress]")
        page.evaluate("window.__sameDocument = true")
        assert page.inner_text("[data-export-label]") == "Queued"
        assert page.inner_text("[data-export-count]") == "0 / 8"
        assert page.locator("[data-export-download]").is_hidden()
        page.screenshot(path=str(ARTIFACTS / "export-progress.png"), full_page=True)
    finally:
        os.kill(celery_worker.pid, signal.SIGCONT)

    link = page.locator("[data-export-download]")
    link.wait_for(state="visible", timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True  # the page polled, no reload
    assert page.inner_text("[data-export-label]") == "Ready"
    assert page.inner_text("[data-export-count]") == "8 / 8"
    assert WorkspaceExport.objects.get(workspace=team).status == ExportStatus.DONE
    page.screenshot(path=str(ARTIFACTS / "export-done.png"), full_page=True)

    with page.expect_download() as download_info:
        link.click()
    target = tmp_path / "export.zip"
    download_info.value.save_as(target)
    names = set(zipfile.ZipFile(target).namelist())
    assert {"index.json", "index.md"} <= names
    assert {f"conversations/{c.pk}-pump-maintenance.md" for c in conversations} <= names
    assert len(names) == 2 * Conversation.objects.filter(workspace=team).count() + 2


def test_a_viewer_downloads_a_conversation_from_its_page(
    live_app, browser_page, team, owner, viewer
):
    conversation = two_turns(team, owner)
    page = browser_page
    log_in(page, live_app, viewer.email, PASSWORD)
    page.goto(f"{live_app}/w/{team.slug}/chat/{conversation.pk}/")
    with page.expect_download() as markdown:
        page.click("[data-export-md]")
    assert markdown.value.suggested_filename == f"{conversation.pk}-pump-maintenance.md"
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Pump maintenance\n") and "Sources: plan.pdf" in text
    with page.expect_download() as data:
        page.click("[data-export-json]")
    assert json.loads(Path(data.value.path()).read_text(encoding="utf-8"))["schema"] == (
        "docqa.conversation/1"
    )

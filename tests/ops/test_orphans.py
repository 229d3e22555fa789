"""Issue 16 (3): "Reconcile now" shows within seconds what it found at the provider and did,
and an orphan it kept (younger than the grace period) is deleted from the dashboard."""

from __future__ import annotations

import time

import pytest

from apps.moonshot.models import ReconcileRun
from tests.conftest import running_celery_worker
from tests.test_workspace_access import login

from .seed import seed_site
from .test_dashboard import page

pytestmark = pytest.mark.celery_worker


def _wait_finished(timeout: float = 20) -> float:
    started = time.monotonic()
    while ReconcileRun.objects.filter(finished_at__isnull=True).exists():
        assert time.monotonic() - started < timeout, "reconcile did not finish"
        time.sleep(0.1)
    return time.monotonic() - started


def test_an_orphan_is_found_shown_and_deleted_from_the_dashboard(
    provider_settings, transactional_db, provider, emulator, team, settings
):
    site = seed_site(team)
    assert settings.MOONSHOT_RECONCILE_GRACE_SECONDS >= 600  # the default: the orphan is new
    emulator.config.list_ignores_pagination = True  # and the provider ignores after/limit
    stray = provider.upload_file("left-by-another-tool.txt", b"stray bytes")
    client = login(site.staff)

    with running_celery_worker():
        response = client.post("/ops/reconcile/", follow=True)
        body = response.content.decode()
        assert "Reconcile queued." in body
        assert "data-running" in body  # the requested run shows at once, and is polled
        seconds = _wait_finished()
        fragment = page(client, "/ops/reconcile/runs/")
        assert "data-running" not in fragment  # polling stops
        assert stray.id in fragment and "left-by-another-tool.txt" in fragment
        assert "younger than the grace period" in fragment
        run = ReconcileRun.objects.get(trigger="admin")
        assert (run.orphans_found, run.orphans_deleted, run.error) == (1, 0, "")
        assert stray.id in emulator.state.files  # kept by policy, and reported

        client.post("/ops/orphans/delete/", {"file": stray.id}, follow=True)
        _wait_finished()
    assert stray.id not in emulator.state.files
    latest = ReconcileRun.objects.order_by("-started_at").first()
    [orphan] = latest.findings["orphans"]
    assert orphan["action"] == "deleted_by_admin" and orphan["deleted"]
    assert "Deleted by an admin" in page(client)
    assert seconds < 10  # what reconcile found is on the page within seconds


@pytest.mark.django_db
def test_deleting_orphans_needs_a_choice(team, settings):
    site = seed_site(team)
    settings.MOONSHOT_API_KEY = "sk-configured-for-this-test"
    body = login(site.staff).post("/ops/orphans/delete/", {}, follow=True).content.decode()
    assert "Choose at least one orphan to delete." in body

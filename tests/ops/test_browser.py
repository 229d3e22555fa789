"""The dashboard in Chromium: staff see the seeded figures; a non-staff user gets no access."""

from __future__ import annotations

import pytest

from apps.moonshot.admission import get_controller
from tests.browser import ARTIFACTS, log_in
from tests.conftest import PASSWORD

from .seed import FAILED_NAME, SECRET_WORKSPACE, seed_site

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]


def test_staff_see_the_dashboard_and_others_do_not(
    provider_settings, live_app, browser_page, team, member
):
    site = seed_site(team)
    get_controller().record_rate_limited("rpm")
    page = browser_page

    log_in(page, live_app, site.staff.email, PASSWORD)
    page.click(".user-menu summary")
    page.click("text=Operations dashboard")
    page.wait_for_url(f"{live_app}/ops/")

    files = page.inner_text("[data-file-meters]").replace("\xa0", " ")
    assert "3 / 1,000" in files  # remote files in the ledger against the provider's cap
    assert "2.9 MB / 10.0 GB" in files
    assert "7 / 1,000" in files  # the last reconcile's count at the provider
    assert "4" in page.inner_text("[data-reconcile-runs] tbody tr")  # orphans deleted
    workspaces = page.inner_text("[data-workspaces]")
    assert "Research Team" in workspaces and SECRET_WORKSPACE in workspaces
    row = page.inner_text(f"[data-workspace='{team.slug}']")
    assert "12,345" in row  # tokens of the extracted text
    assert "3 / 20" in row and "100,000" in row  # documents and tokens against the limits
    assert FAILED_NAME in page.inner_text("#failed")
    assert page.inner_text("[data-total-429]") == "1"

    page.screenshot(path=str(ARTIFACTS / "ops-dashboard.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "ops-dashboard-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    page.check(f"#failed-{site.failed[0].pk}")
    page.click("text=Retry selected")
    page.wait_for_selector(".message.success")
    assert "1 document queued for extraction again." in page.inner_text(".messages")

    page.context.clear_cookies()
    log_in(page, live_app, member.email, PASSWORD)
    response = page.goto(f"{live_app}/ops/")
    assert response.status == 404
    body = page.content()
    assert SECRET_WORKSPACE not in body and "corrupt.docx" not in body and "12,345" not in body
    page.click(".user-menu summary")
    assert page.locator("text=Operations dashboard").count() == 0


def test_reconcile_now_shows_the_orphan_it_found_without_a_reload(
    provider_settings, provider, live_app, browser_page, team
):
    """Issue 16 (3): the page polls while the run is unfinished; the orphan appears by itself
    within seconds, with a button that deletes it."""
    import time

    site = seed_site(team)
    stray = provider.upload_file("left-by-another-tool.txt", b"stray bytes")
    page = browser_page
    log_in(page, live_app, site.staff.email, PASSWORD)
    page.goto(f"{live_app}/ops/")
    page.click("text=Reconcile now")
    started = time.monotonic()
    page.wait_for_selector(f"[data-orphan='{stray.id}']", timeout=15_000)
    seconds = time.monotonic() - started
    assert "younger than the grace period" in page.inner_text(f"[data-orphan='{stray.id}']")
    page.click(f"[data-orphan='{stray.id}'] button")
    page.wait_for_selector(f"[data-orphan='{stray.id}']:has-text('Deleted by an admin')")
    assert seconds < 10
    print(f"orphan shown {seconds:.1f} s after Reconcile now")

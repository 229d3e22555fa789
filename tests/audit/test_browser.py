"""The audit log in Chromium: change a member's role on the members page, open the audit log
from the workspace settings, filter it, see the event, and download the filtered JSON lines."""

from __future__ import annotations

import json

import pytest

from apps.workspaces.models import Membership
from tests.browser import ARTIFACTS, log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]


def test_change_a_role_then_find_it_in_the_audit_log(live_app, browser_page, team, owner, member):
    base, page = live_app, browser_page
    log_in(page, base, owner.email, PASSWORD)
    target = Membership.objects.get(workspace=team, user=member)

    page.goto(f"{base}/w/{team.slug}/members/")
    page.select_option(f"#role-{target.pk}", "admin")
    page.click(f"form:has(#role-{target.pk}) button[type=submit]")
    assert "Role changed." in page.inner_text(".messages")

    page.goto(f"{base}/w/{team.slug}/settings/")
    page.click("[data-audit-link]")
    page.wait_for_url(f"**/w/{team.slug}/audit/")
    rows = page.locator("[data-audit-events] tbody tr")
    assert rows.count() >= 1  # the role change; sign-ins are site events, not listed here

    page.select_option("[data-audit-filters] select[name=action]", "member.role_changed")
    page.fill("[data-audit-filters] input[name=actor]", "owner@")
    page.click("[data-audit-filters] button[type=submit]")
    page.wait_for_url("**/audit/?*action=member.role_changed*")
    row = page.locator("[data-audit-event='member.role_changed']")
    assert row.count() == 1
    text = row.inner_text()
    assert "Role changed" in text and owner.email in text and member.email in text
    assert "127.0.0.1" in text
    page.screenshot(path=str(ARTIFACTS / "audit-log.png"), full_page=True)

    # The export link carries the filters: exactly the event on the page, as one JSON line.
    with page.expect_download() as info:
        page.click("[data-audit-export]")
    lines = info.value.path().read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["member.role_changed"]
    assert json.loads(lines[0])["details"] == {"from": "member", "to": "admin"}

    # Dark theme and a phone-sized screen: the same page, rows as cards.
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    assert page.locator("[data-audit-event='member.role_changed']").is_visible()
    page.screenshot(path=str(ARTIFACTS / "audit-log-dark-narrow.png"), full_page=True)

    # A filter that matches nothing says so.
    page.fill("[data-audit-filters] input[name=actor]", "nobody-at-all")
    page.click("[data-audit-filters] button[type=submit]")
    assert "No event matches these filters" in page.inner_text("[data-audit-empty]")

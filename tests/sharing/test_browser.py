"""Share links in Chromium: ask (offline answer), share publicly from the conversation page,
open the link in a fresh anonymous browser context, then see it expire and be revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.sharing.models import ShareLink
from tests.browser import ARTIFACTS, log_in
from tests.chat.conftest import ready_document
from tests.conftest import PASSWORD

from .conftest import FACT, FILLER

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]


@pytest.fixture
def offline_app(transactional_db, monkeypatch, request) -> str:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    return request.getfixturevalue("live_app")


def share_from_page(page, visibility: str, expires: str = "") -> str:
    """Fill the conversation page's Share form; the link, as the Shared links page shows it."""
    page.click("[data-share] summary")
    page.screenshot(path=str(ARTIFACTS / "share-form.png"))
    page.check(f"[data-share-form] input[name=visibility][value={visibility}]")
    page.select_option("[data-share-form] select[name=expires_in]", expires)
    page.click("[data-share-form] button[type=submit]")
    page.wait_for_url("**/shared/#link-*")
    link_id = page.url.rsplit("#link-", 1)[1]
    return page.input_value(f"#link-{link_id} [data-share-url]")


def test_share_open_anonymously_expire_and_revoke(offline_app, browser_page, team, owner):
    base = offline_app
    ready_document(team, "maintenance.txt", f"{FILLER}\n\n{FACT}", owner)
    page = browser_page
    log_in(page, base, owner.email, PASSWORD)
    page.goto(f"{base}/w/{team.slug}/chat/")
    page.click("main >> text=New conversation")
    page.fill("#question", "How often is the valve tested?")
    page.keyboard.press("Enter")
    page.wait_for_selector(".bubble.assistant.is-complete")

    conversation_url = page.url
    url = share_from_page(page, "public")
    assert "Share link created" in page.inner_text(".messages")
    page.goto(conversation_url)
    expiring_url = share_from_page(page, "public", "1")
    expiring = ShareLink.objects.get(token=expiring_url.rstrip("/").rsplit("/", 1)[1])
    assert expiring.expires_at is not None
    expiring.expires_at = timezone.now() - timedelta(seconds=1)  # a day later, in effect
    expiring.save(update_fields=["expires_at"])

    anonymous_context = page.context.browser.new_context(locale="en-US")
    try:
        anonymous = anonymous_context.new_page()
        response = anonymous.goto(url)
        assert response.status == 200
        assert response.headers["x-robots-tag"] == "noindex, nofollow"
        assert FACT in anonymous.inner_text("[data-shared-messages]")
        assert "Sources: maintenance.txt" in anonymous.inner_text(".usage")
        assert anonymous.locator("nav").count() == 0
        assert anonymous.locator("main a").count() == 0  # no document or workspace links
        assert "Zebra crossing" not in anonymous.content()
        anonymous.screenshot(path=str(ARTIFACTS / "shared-public.png"), full_page=True)

        response = anonymous.goto(expiring_url)
        assert response.status == 410
        assert "This link has expired" in anonymous.inner_text("main")
        assert FACT not in anonymous.content()
        page.reload()
        assert "expired" in page.inner_text(f"#link-{expiring.pk}")
        page.screenshot(path=str(ARTIFACTS / "shared-links.png"), full_page=True)

        # The owner revokes it on the Shared links page: the same tab now says so (410).
        page.click(f"tr:has([data-share-url][value='{url}']) button:has-text('Revoke')")
        assert "Link revoked" in page.inner_text(".messages")
        response = anonymous.goto(url)
        assert response.status == 410
        assert "This link was revoked" in anonymous.inner_text("main")
        assert FACT not in anonymous.content()
        anonymous.screenshot(path=str(ARTIFACTS / "shared-revoked.png"), full_page=True)
    finally:
        anonymous_context.close()

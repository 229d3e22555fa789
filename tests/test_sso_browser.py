"""Single sign-on in Chromium: the login page's button, the provider's page, back signed in."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.workspaces.models import Membership, Role
from tests.browser import ARTIFACTS
from tests.oidc import CALLBACK

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]


@pytest.fixture
def sso_app(transactional_db, oidc, team, monkeypatch, request) -> str:
    """The app under uvicorn, configured (environment) for the loopback provider, with
    example.com people joining the team workspace as members."""
    monkeypatch.setenv("DOCQA_SSO_AUTO_JOIN", f"example.com={team.slug}:member")
    base = request.getfixturevalue("live_app")
    oidc.config.redirect_uris = [f"{base}{CALLBACK}"]
    return base


def test_sign_in_with_the_identity_provider(sso_app, oidc, team, browser_page):
    page = browser_page
    page.emulate_media(color_scheme="dark")
    page.goto(f"{sso_app}/accounts/login/")
    page.screenshot(path=str(ARTIFACTS / "sso-login-dark.png"))
    page.emulate_media(color_scheme="light")
    page.click("text=Sign in with Example SSO")
    page.wait_for_url(f"{oidc.issuer}/authorize*")
    page.screenshot(path=str(ARTIFACTS / "sso-provider.png"))
    page.click("button:has-text('Alice Example')")
    page.wait_for_url(f"{sso_app}/w/*/")
    page.screenshot(path=str(ARTIFACTS / "sso-signed-in.png"))
    assert page.inner_text(".user-menu summary") == "Alice Example"
    alice = User.objects.get(email="alice@example.com")
    assert Membership.objects.get(user=alice, workspace=team).role == Role.MEMBER
    page.click(".switcher summary")
    assert "Research Team" in page.inner_text(".switcher")

"""Single sign-on (OIDC through django-allauth) against the loopback provider over real HTTP."""

from __future__ import annotations

import logging

import environ
import httpx
import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from apps.accounts.models import User
from apps.audit.models import Action, AuditEvent
from apps.workspaces.models import Membership, Role
from docqa.processes import free_port
from docqa.sso import JOIN_ROLES, oidc_providers, parse_auto_join
from tests.conftest import PASSWORD, make_user
from tests.oidc import CLIENT_SECRET, approve, configure, sso_sign_in, start
from tools.oidc_provider import Identity

pytestmark = pytest.mark.django_db


def signed_in_as(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_login_page_shows_the_button_and_never_the_secret(oidc):
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Example SSO" in page
    assert 'name="password"' in page  # password login stays on by default
    assert CLIENT_SECRET not in page


def test_login_page_without_sso_has_no_button(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "Sign in with" not in Client().get("/accounts/login/").content.decode()


def test_first_sign_in_creates_the_user_with_a_workspace_and_lands_there(oidc):
    logins = []
    user_logged_in.connect(handler := lambda sender, user, **kw: logins.append(user), weak=False)
    try:
        client = Client()
        response = sso_sign_in(
            client, Identity("new.person@example.net", "New Person"), follow=True
        )
    finally:
        user_logged_in.disconnect(handler)
    user = User.objects.get(email="new.person@example.net")
    assert signed_in_as(client) == user and logins == [user]  # Django's signal, for the audit log
    assert user.display_name == "New Person" and not user.has_usable_password()
    membership = Membership.objects.get(user=user)
    assert membership.workspace.is_personal and membership.role == Role.OWNER
    assert response.redirect_chain[-1][0] == f"/w/{membership.workspace.slug}/"
    assert "New Person" in response.content.decode()
    # the provider saw the standard code flow: PKCE, the client secret, userinfo
    calls = [name for name, _ in oidc.state.calls]
    assert calls.count("token") == 1 and "userinfo" in calls
    assert any(name == "token" and detail.endswith(" pkce") for name, detail in oidc.state.calls)
    # the second time the same person is the same user, no new account
    again = Client()
    sso_sign_in(again, Identity("new.person@example.net", "New Person"))
    assert signed_in_as(again) == user and User.objects.count() == 1


def test_existing_user_is_matched_by_verified_email(oidc):
    local = make_user("alice@example.com", "Alice Local")
    client = Client()
    response = sso_sign_in(client, Identity("Alice@Example.com", "Alice IdP"))
    assert response.status_code == 302
    assert signed_in_as(client) == local
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert SocialAccount.objects.get(user=local).provider == "sso"
    # allauth's guard: whoever set the password may have registered someone else's address
    local.refresh_from_db()
    assert not local.has_usable_password()


def test_unverified_email_does_not_take_over_an_existing_account(oidc):
    victim = make_user("victim@example.com", "Victor Victim")
    client = Client()
    response = sso_sign_in(client, Identity("victim@example.com", "Mallory", email_verified=False))
    assert response.status_code == 403
    assert "did not confirm that this address is yours" in response.content.decode()
    assert signed_in_as(client) is None
    assert not SocialAccount.objects.exists()
    assert User.objects.count() == 1
    victim.refresh_from_db()
    assert victim.has_usable_password() and Client().login(email=victim.email, password=PASSWORD)


def test_auto_join_by_verified_domain_gives_the_configured_role(oidc, team, settings):
    settings.DOCQA_SSO_AUTO_JOIN = parse_auto_join(f"example.org={team.slug}:viewer")
    sso_sign_in(Client(), Identity("bob@Example.org", "Bob"))
    bob = User.objects.get(email="bob@example.org")
    assert Membership.objects.get(user=bob, workspace=team).role == Role.VIEWER
    [joined] = AuditEvent.objects.filter(action=Action.MEMBER_AUTO_JOINED)
    assert (joined.actor, joined.workspace, joined.details["role"]) == (bob, team, "viewer")
    # an unverified address at the same domain joins nothing
    sso_sign_in(Client(), Identity("eve@example.org", "Eve", email_verified=False))
    eve = User.objects.get(email="eve@example.org")
    assert not Membership.objects.filter(user=eve, workspace=team).exists()
    # removed by an admin, Bob is not put back by his next sign-in
    Membership.objects.filter(user=bob, workspace=team).delete()
    sso_sign_in(Client(), Identity("bob@example.org", "Bob"))
    assert not Membership.objects.filter(user=bob, workspace=team).exists()


def test_auto_join_applies_to_an_existing_user_on_first_link(oidc, team, settings):
    settings.DOCQA_SSO_AUTO_JOIN = parse_auto_join(f"example.com={team.slug}:member")
    carol = make_user("carol@example.com")
    sso_sign_in(Client(), Identity("carol@example.com", "Carol"))
    assert Membership.objects.get(user=carol, workspace=team).role == Role.MEMBER


def test_password_login_off_hides_the_form_and_refuses_a_post(oidc, settings):
    settings.DOCQA_PASSWORD_LOGIN = False
    make_user("me@example.com")
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert 'name="password"' not in page and "Sign in with Example SSO" in page
    assert "/accounts/signup/" not in page
    response = client.post("/accounts/login/", {"username": "me@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "Signing in with a password is turned off here" in response.content.decode()
    assert signed_in_as(client) is None
    signup = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert signup.status_code == 403 and not User.objects.filter(email="new@example.com").exists()
    assert client.get("/admin/login/?next=/admin/")["Location"].startswith("/accounts/login/")
    # single sign-on still works
    sso_sign_in(client, Identity("me@example.com", "Me"))
    assert signed_in_as(client).email == "me@example.com"


def test_cancel_at_the_provider_gives_a_clear_page(oidc):
    client = Client()
    response = sso_sign_in(client, None)
    assert response.status_code == 200
    assert "You cancelled signing in with Example SSO." in response.content.decode()
    assert signed_in_as(client) is None


def test_replayed_or_foreign_callback_gives_a_clear_page(oidc):
    client = Client()
    callback = approve(start(client), Identity("dan@example.com", "Dan"))
    assert client.get(callback).status_code == 302
    client.post("/accounts/logout/")
    replay = client.get(callback)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.content.decode()
    assert signed_in_as(client) is None


def test_provider_down_gives_a_clear_page(oidc, settings, monkeypatch, caplog):
    dead = f"http://127.0.0.1:{free_port()}"
    # down before the redirect (discovery fails) ...
    configure(monkeypatch, settings, dead)
    with caplog.at_level(logging.WARNING):
        response = Client().post("/accounts/oidc/sso/login/")
    assert response.status_code == 502
    assert "Example SSO cannot be reached right now" in response.content.decode()
    # ... and after it, while the browser is on its way back with a code
    configure(monkeypatch, settings, oidc.issuer)
    client = Client()
    callback = approve(start(client), Identity("erin@example.com", "Erin"))
    configure(monkeypatch, settings, dead)
    with caplog.at_level(logging.WARNING):
        response = client.get(callback)
    assert response.status_code == 502 and signed_in_as(client) is None
    assert CLIENT_SECRET not in caplog.text and CLIENT_SECRET not in response.content.decode()


def test_get_of_the_login_url_asks_before_redirecting(oidc):
    response = Client().get("/accounts/oidc/sso/login/")
    assert response.status_code == 200
    assert "Sign in with Example SSO" in response.content.decode()
    assert not oidc.state.calls  # nothing sent to the provider on a GET


def test_settings_parse_and_refuse_half_configurations(monkeypatch):
    assert parse_auto_join("Example.com=team:admin, other.org=ops") == {
        "example.com": ("team", "admin"),
        "other.org": ("ops", "member"),
    }
    assert set(JOIN_ROLES) == set(Role.values)
    for bad in ("example.com", "example.com=team:king", "=team:member"):
        with pytest.raises(ImproperlyConfigured):
            parse_auto_join(bad)
    monkeypatch.setenv("DOCQA_OIDC_ISSUER", "http://127.0.0.1:1")
    monkeypatch.delenv("DOCQA_OIDC_CLIENT_ID", raising=False)
    monkeypatch.delenv("DOCQA_OIDC_CLIENT_SECRET", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DOCQA_OIDC_CLIENT_ID"):
        oidc_providers(environ.Env())


def test_deactivated_account_gets_a_clear_page(oidc):
    user = make_user("gone@example.com")
    user.is_active = False
    user.save(update_fields=["is_active"])
    client = Client()
    response = sso_sign_in(client, Identity("gone@example.com", "Gone"))
    assert response.status_code == 423
    assert "This account is deactivated" in response.content.decode()
    assert signed_in_as(client) is None


def test_provider_without_an_email_claim_gets_a_clear_page(oidc):
    oidc.config.auto_approve = Identity("", "No Mail", sub="no-mail-1")  # no e-mail released
    client = Client()
    redirect = httpx.get(start(client))  # auto-approved: straight back with a code
    assert redirect.status_code == 302
    response = client.get(redirect.headers["location"])
    assert response.status_code == 422
    assert "did not tell DocQA your e-mail address" in response.content.decode()
    assert not User.objects.exists()


def test_without_sso_configured_the_login_url_is_a_404(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert Client().post("/accounts/oidc/sso/login/").status_code == 404

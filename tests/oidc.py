"""Single sign-on fixtures: one loopback OpenID Connect provider (tools/oidc_provider) per test
session, and the app configured for it the way an operator would, through DOCQA_OIDC_*.

`oidc` points this process (settings) and the processes tests start (environment: uvicorn)
at the provider; `sso_sign_in` walks the redirect flow with Django's test client, the
provider's page answered over real HTTP as a browser would.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import environ
import httpx
import pytest
from django.test import Client

from docqa.sso import oidc_providers
from tools.oidc_provider import Identity, OIDCProviderServer, ProviderConfig

CLIENT_ID = "docqa-test"
CLIENT_SECRET = "oidc-test-secret-never-shown-0123456789"
CALLBACK = "/accounts/oidc/sso/login/callback/"
LOGIN = "/accounts/oidc/sso/login/"


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[OIDCProviderServer]:
    config = ProviderConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with OIDCProviderServer(config) as server:
        yield server


def configure(monkeypatch, settings, issuer: str, name: str = "Example SSO") -> None:
    values = {
        "DOCQA_OIDC_ISSUER": issuer,
        "DOCQA_OIDC_CLIENT_ID": CLIENT_ID,
        "DOCQA_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "DOCQA_OIDC_NAME": name,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings.SOCIALACCOUNT_PROVIDERS = oidc_providers(environ.Env())


@pytest.fixture
def oidc(oidc_server: OIDCProviderServer, settings, monkeypatch) -> OIDCProviderServer:
    """The app signs in through the loopback provider; callbacks to the test client's host."""
    oidc_server.state.reset()
    oidc_server.config.redirect_uris = [f"http://testserver{CALLBACK}"]
    oidc_server.config.auto_approve = None
    configure(monkeypatch, settings, oidc_server.issuer)
    return oidc_server


def start(client: Client, next_url: str = "") -> str:
    """Press "Sign in with ...": the app answers with a redirect to the provider."""
    response = client.post(LOGIN, {"next": next_url} if next_url else {})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def approve(authorize_url: str, identity: Identity | None) -> str:
    """The person on the provider's page: signs in as `identity` (None: cancels). Returns the
    callback URL the provider redirects the browser to."""
    if identity is None:
        data = {"decision": "deny"}
    else:
        data = {
            "decision": "approve",
            "email": identity.email,
            "name": identity.name,
            "email_verified": "1" if identity.email_verified else "0",
        }
    page = httpx.get(authorize_url)
    assert page.status_code == 200 and "Test identity provider" in page.text
    response = httpx.post(authorize_url, data=data)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert urlsplit(location).path == CALLBACK
    return location


def sso_sign_in(client: Client, identity: Identity | None, *, follow: bool = False):
    """The whole round trip; returns the app's response to the callback."""
    return client.get(approve(start(client), identity), follow=follow)

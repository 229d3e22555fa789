"""The client address behind the login throttle: a header a client sets never lifts a lock."""

from __future__ import annotations

import ipaddress
import re

import httpx
import pytest
from django.test import RequestFactory

from apps.core.client_address import client_address
from docqa.processes import serve
from tests.browser import BASE_DIR


def _request(peer: str, forwarded: str | None = None):
    headers = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


def test_without_a_proxy_the_header_is_ignored(settings):
    settings.BEHIND_PROXY = False
    assert client_address(_request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"


def test_one_proxy_takes_the_entry_it_appended_not_what_the_client_wrote(settings):
    settings.BEHIND_PROXY, settings.TRUSTED_PROXIES, settings.PROXY_HOPS = True, [], 0
    # The client sent "X-Forwarded-For: 1.2.3.4"; nginx appended the address it saw.
    assert client_address(_request("10.0.0.5", "1.2.3.4, 198.51.100.7")) == "198.51.100.7"
    assert client_address(_request("10.0.0.5")) == "10.0.0.5"
    settings.PROXY_HOPS = 2
    assert client_address(_request("10.0.0.5", "1.2.3.4, 198.51.100.7, 10.0.0.9")) == (
        "198.51.100.7"
    )


def test_trusted_proxies_skip_only_their_own_hops(settings):
    settings.BEHIND_PROXY, settings.PROXY_HOPS = True, 0
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    chain = "1.2.3.4, 198.51.100.7, 10.1.1.1"
    assert client_address(_request("10.0.0.5", chain)) == "198.51.100.7"
    # Not through the proxy: the peer itself, whatever it claims.
    assert client_address(_request("198.51.100.50", "1.2.3.4")) == "198.51.100.50"
    # Garbage written by the client left of the trusted hops is never reached.
    assert client_address(_request("10.0.0.5", "not-an-ip, 198.51.100.7")) == "198.51.100.7"
    # IPv6 peers and ports.
    assert client_address(_request("::ffff:10.0.0.5", "[2001:db8::1]:443")) == "2001:db8::1"


def _csrf(client: httpx.Client, url: str) -> str:
    page = client.get(url)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


@pytest.mark.django_db(transaction=True)
def test_x_forwarded_for_does_not_lift_a_lockout_under_uvicorn(settings):
    """The real web server, as `make run` starts it: after LOGIN_FAILURE_LIMIT failures from
    this address with different e-mails, a new e-mail with a forged header is still refused."""
    from tests.conftest import test_database_url

    env = {
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LOGIN_FAILURE_LIMIT": "3",
    }
    log_path = BASE_DIR / "var" / "test-uvicorn.log"
    login = "/accounts/login/"
    with serve(env, log_path=log_path) as (url, _proc), httpx.Client(base_url=url) as client:
        for n in range(3):
            form = {"csrfmiddlewaretoken": _csrf(client, login), "password": "nope"}
            response = client.post(login, data={**form, "username": f"u{n}@example.com"})
            assert "do not match an account" in response.text
        for forged in ("1.2.3.4", "10.9.8.7, 1.2.3.4", "unknown"):
            form = {"csrfmiddlewaretoken": _csrf(client, login), "password": "nope"}
            response = client.post(
                login,
                data={**form, "username": "fresh@example.com"},
                headers={"X-Forwarded-For": forged, "X-Real-IP": forged},
            )
            assert "Too many failed attempts" in response.text, forged

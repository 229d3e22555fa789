"""Single sign-on settings from the environment: OpenID Connect through django-allauth.

`DOCQA_OIDC_ISSUER` (the provider's base URL; allauth reads `/.well-known/openid-configuration`
under it), `DOCQA_OIDC_CLIENT_ID` and `DOCQA_OIDC_CLIENT_SECRET` switch it on, all three or none;
`DOCQA_OIDC_NAME` labels the button. `DOCQA_SSO_AUTO_JOIN` ("example.com=team-slug:member,
other.org=ops:viewer") puts people whose verified e-mail is at that domain into that workspace on
their first single sign-on. The secret goes only into allauth's app settings: never a log line
or a page.

What can fail: a half-configured provider or a malformed auto-join entry raises
ImproperlyConfigured at start-up, naming the variable, rather than failing at the first login.
"""

from __future__ import annotations

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

# The allauth app id: the callback URL is /accounts/oidc/<PROVIDER_ID>/login/callback/.
PROVIDER_ID = "sso"
# Roles a workspace membership can have (apps.workspaces.models.Role); settings cannot import
# models, and tests/test_sso.py checks the two lists agree.
JOIN_ROLES = ("owner", "admin", "member", "viewer")


def oidc_providers(env: environ.Env) -> dict[str, Any]:
    """`SOCIALACCOUNT_PROVIDERS` for this environment: one OIDC app, or none."""
    values = {
        name: env(name, default="").strip()
        for name in ("DOCQA_OIDC_ISSUER", "DOCQA_OIDC_CLIENT_ID", "DOCQA_OIDC_CLIENT_SECRET")
    }
    if not any(values.values()):
        return {}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ImproperlyConfigured(f"Single sign-on needs {', '.join(missing)} as well.")
    return {
        "openid_connect": {
            # PKCE (RFC 7636) on top of the client secret: a stolen code is useless alone.
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": PROVIDER_ID,
                    # Empty: the button's translated "Single sign-on" (apps.accounts.selectors).
                    "name": env("DOCQA_OIDC_NAME", default="").strip(),
                    "client_id": values["DOCQA_OIDC_CLIENT_ID"],
                    "secret": values["DOCQA_OIDC_CLIENT_SECRET"],
                    "settings": {"server_url": values["DOCQA_OIDC_ISSUER"].rstrip("/")},
                }
            ],
        }
    }


def parse_auto_join(raw: str) -> dict[str, tuple[str, str]]:
    """ "example.com=team:member,other.org=ops" -> {"example.com": ("team", "member"), ...}.

    The role defaults to member; domains compare lower-case."""
    rules: dict[str, tuple[str, str]] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        domain, sep, target = entry.partition("=")
        slug, _, role = target.partition(":")
        domain, slug, role = domain.strip().lower().lstrip("@"), slug.strip(), role.strip().lower()
        role = role or "member"
        if not sep or not domain or not slug or role not in JOIN_ROLES:
            raise ImproperlyConfigured(
                f"DOCQA_SSO_AUTO_JOIN: {entry!r} is not domain=workspace-slug:role "
                f"(role one of {', '.join(JOIN_ROLES)})."
            )
        rules[domain] = (slug, role)
    return rules

"""The provider's HTTP surface (Starlette): discovery, JWKS, authorize, token, userinfo.

The authorize page is the provider's "login": pick one of the configured identities, type
another (with or without a verified e-mail), or cancel (the client gets `access_denied`).
A test may skip the page with `ProviderConfig.auto_approve`.
"""

from __future__ import annotations

from html import escape
from typing import Any

from authlib.oauth2 import OAuth2Error
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tools.oidc_provider.authority import Authority, Request
from tools.oidc_provider.config import Identity

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="color-scheme" content="light dark"><title>Test identity provider</title>
<style>body{{font:16px system-ui;max-width:32rem;margin:3rem auto;padding:0 1rem}}
form{{margin:.5rem 0}}button{{font:inherit;padding:.4rem .8rem}}fieldset{{margin-top:1rem}}
</style></head><body><h1>Test identity provider</h1>
<p>Sign in to <strong>{client}</strong> as:</p>{body}</body></html>"""


def _as_response(result: tuple[int, Any, list[tuple[str, str]]]) -> Response:
    status, body, headers = result
    return Response(body or b"", status_code=status, headers=dict(headers))


def _identity_form(action: str, identity: Identity) -> str:
    verified = "verified" if identity.email_verified else "unverified"
    return (
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="email" value="{escape(identity.email)}">'
        f'<input type="hidden" name="name" value="{escape(identity.name)}">'
        f'<input type="hidden" name="email_verified" value="{int(identity.email_verified)}">'
        f'<button name="decision" value="approve">{escape(identity.name or identity.email)}'
        f" &lt;{escape(identity.email)}&gt; ({verified})</button></form>"
    )


def _login_page(authority: Authority, action: str) -> str:
    forms = [_identity_form(action, i) for i in authority.config.identities]
    forms.append(
        f'<form method="post" action="{escape(action)}"><fieldset><legend>Someone else</legend>'
        '<label>E-mail <input type="email" name="email" required></label><br>'
        '<label>Name <input name="name"></label><br>'
        '<label><input type="checkbox" name="email_verified" value="1" checked> '
        "E-mail verified</label><br>"
        '<button name="decision" value="approve">Sign in</button></fieldset></form>'
        f'<form method="post" action="{escape(action)}">'
        '<button name="decision" value="deny">Cancel</button></form>'
    )
    return _PAGE.format(client=escape(authority.config.client_id), body="".join(forms))


def create_app(authority: Authority) -> Starlette:
    state = authority.state

    async def discovery(request: HttpRequest) -> Response:
        state.calls.append(("discovery", ""))
        return JSONResponse(authority.discovery())

    async def jwks(request: HttpRequest) -> Response:
        state.calls.append(("jwks", ""))
        return JSONResponse(authority.jwks())

    async def authorize(request: HttpRequest) -> Response:
        params = dict(request.query_params)
        oauth_request = Request(request.method, str(request.url), request.headers, params)
        try:
            grant = authority.get_consent_grant(oauth_request, end_user=None)
        except OAuth2Error as error:  # never redirect to an unchecked URI: show it here
            return HTMLResponse(f"<h1>Bad request</h1><p>{escape(str(error))}</p>", 400)
        identity: Identity | None = authority.config.auto_approve
        if request.method == "POST":
            form = await request.form()
            if form.get("decision") == "approve" and form.get("email"):
                identity = Identity(
                    email=str(form["email"]).strip(),
                    name=str(form.get("name", "")).strip(),
                    email_verified=form.get("email_verified") in ("1", "true", "on"),
                )
            else:
                identity = None
        elif identity is None:
            return HTMLResponse(_login_page(authority, str(request.url)))
        state.calls.append(("authorize", identity.email if identity else "denied"))
        return _as_response(authority.create_authorization_response(oauth_request, identity, grant))

    async def token(request: HttpRequest) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        oauth_request = Request("POST", str(request.url), request.headers, form)
        response = _as_response(authority.create_token_response(oauth_request))
        pkce = "pkce" if form.get("code_verifier") else "no-pkce"
        state.calls.append(("token", f"{oauth_request.auth_method} {pkce}"))
        return response

    async def userinfo(request: HttpRequest) -> Response:
        status, body = authority.userinfo(request.headers.get("authorization", ""))
        state.calls.append(("userinfo", str(status)))
        return JSONResponse(body, status_code=status)

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo, methods=["GET", "POST"]),
        ]
    )

"""The OpenID Connect authorization server, on Authlib's grants.

Authlib does the protocol: request validation, client authentication (client_secret_basic and
client_secret_post), the authorization-code grant with PKCE (RFC 7636), nonce replay checks and
the RS256-signed ID token of OIDC Core §3.1. This module only gives it storage (`State`) and
a request shape, since Authlib has no Starlette server integration.

What can fail: Authlib raises `OAuth2Error` for a bad authorization request (unknown client,
unregistered redirect URI); the app shows it as a 400 page, as RFC 6749 §4.1.2.1 asks, and
never redirects to an unchecked URI.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from tools.oidc_provider.config import Identity, ProviderConfig
from tools.oidc_provider.state import TOKEN_TTL_SECONDS, AccessToken, AuthorizationCode, State

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
SCOPES = ["openid", "profile", "email"]


class Request(OAuth2Request):
    """An HTTP request already read by the ASGI handler: method, URL, headers, parameters."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], data: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self.payload = BasicOAuth2Payload(data)
        self._data = data

    @property
    def args(self) -> dict[str, str]:
        return self._data

    @property
    def form(self) -> dict[str, str]:
        return self._data


class Client:
    """The one registered relying party (Authlib's ClientMixin)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.client_id = config.client_id
        self.client_metadata: dict[str, Any] = {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.config.redirect_uris[0] if self.config.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.config.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.config.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def user_info(identity: Identity, scope: str) -> UserInfo:
    scopes = scope.split()
    claims: dict[str, Any] = {"sub": identity.subject}
    if "profile" in scopes and identity.name:
        claims["name"] = identity.name
    if "email" in scopes:
        claims["email"] = identity.email
        claims["email_verified"] = identity.email_verified
    return UserInfo(claims)


class Authority(AuthorizationServer):
    """Authlib's server with in-memory storage; `issuer` is set once the port is known."""

    def __init__(self, config: ProviderConfig, state: State) -> None:
        super().__init__(scopes_supported=SCOPES)
        self.config = config
        self.state = state
        self.issuer = ""
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"}
        )
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: secrets.token_urlsafe(32), expires_generator=TOKEN_TTL_SECONDS
            ),
        )
        self.register_grant(_CodeGrant, [CodeChallenge(required=False), _OpenIDCode(self)])

    # -- Authlib's framework hooks -------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return Client(self.config) if client_id == self.config.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.state.tokens[token["access_token"]] = AccessToken(
            identity=request.user,
            client_id=request.client.get_client_id(),
            scope=token.get("scope", ""),
            expires_at=time.time() + TOKEN_TTL_SECONDS,
        )

    def create_oauth2_request(self, request: Request) -> Request:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Any:
        if isinstance(body, dict):
            body = json.dumps(body)
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # -- what the app serves -------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 §3."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": SCOPES,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "claims_supported": ["sub", "name", "email", "email_verified"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def userinfo(self, authorization: str) -> tuple[int, dict[str, Any]]:
        """OIDC Core §5.3: the bearer token's identity, filtered by its scope."""
        kind, _, value = authorization.partition(" ")
        token = self.state.tokens.get(value.strip()) if kind.lower() == "bearer" else None
        if token is None or token.expires_at < time.time() or "openid" not in token.scope:
            return 401, {"error": "invalid_token"}
        return 200, dict(user_info(token.identity, token.scope))


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def _state(self) -> State:
        return self.server.state

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self._state.codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            identity=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        if data.get("nonce"):
            self._state.nonces.add(data["nonce"])

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        found = self._state.codes.get(code)
        if found and found.client_id == client.get_client_id() and not found.is_expired():
            return found
        return None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        with self._state.lock:
            self._state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Identity:
        return authorization_code.identity


class _OpenIDCode(OpenIDCode):
    def __init__(self, authority: Authority) -> None:
        super().__init__(require_nonce=False)
        self.authority = authority

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return nonce in self.authority.state.nonces

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.authority.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": str(self.authority.key.kid)}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": self.authority.issuer, "aud": [client.get_client_id()]}

    def generate_user_info(self, user: Identity, scope: str) -> UserInfo:
        return user_info(user, scope)

"""In-memory state of the provider: issued codes and tokens, seen nonces, and a call log."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tools.oidc_provider.config import Identity

CODE_TTL_SECONDS = 600
TOKEN_TTL_SECONDS = 3600


@dataclass
class AuthorizationCode:
    """One issued code (Authlib's AuthorizationCodeMixin, duck-typed)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    identity: Identity
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def is_expired(self) -> bool:
        return time.time() > self.auth_time + CODE_TTL_SECONDS

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class AccessToken:
    identity: Identity
    client_id: str
    scope: str
    expires_at: float


@dataclass
class State:
    """Shared by the ASGI app's handlers; a lock keeps a code single-use under concurrency."""

    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    # (endpoint, detail) per request, e.g. ("token", "client_secret_post"), for tests to assert.
    calls: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.codes.clear()
            self.tokens.clear()
            self.nonces.clear()
            self.calls.clear()

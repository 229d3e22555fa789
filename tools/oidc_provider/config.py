"""What the loopback OpenID Connect provider knows: its one client and its test identities.

Plain dataclasses, no Django: the tests, `make run-oidc` and the CLI build them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    """A person the provider can sign in. `email_verified` is what the ID token claims."""

    email: str
    name: str = ""
    email_verified: bool = True
    sub: str = ""

    @property
    def subject(self) -> str:
        """The stable `sub` claim: given, or derived from the e-mail."""
        return self.sub or "sub-" + hashlib.sha256(self.email.lower().encode()).hexdigest()[:16]


def default_identities() -> list[Identity]:
    return [
        Identity("alice@example.com", "Alice Example"),
        Identity("bob@example.org", "Bob Other"),
        Identity("mallory@example.com", "Mallory Unverified", email_verified=False),
    ]


@dataclass
class ProviderConfig:
    """`redirect_uris` are matched exactly (RFC 6749 §3.1.2); `auto_approve` signs that
    identity in without showing the login page, as an IdP with a live session would."""

    client_id: str = "docqa"
    client_secret: str = "docqa-oidc-dev-secret"  # noqa: S105 (a test provider's own client)
    redirect_uris: list[str] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=default_identities)
    auto_approve: Identity | None = None

"""A small, standards-compliant OpenID Connect provider on loopback, for tests and `make run-oidc`.

Built on Authlib (authorization-code grant, PKCE, OIDC Core ID tokens signed RS256 with
joserfc); serves discovery, JWKS, authorize (a login page of test identities), token and
userinfo. Standalone: nothing here imports Django.

    with OIDCProviderServer(ProviderConfig(redirect_uris=[callback])) as idp:
        DOCQA_OIDC_ISSUER = idp.issuer
"""

from tools.oidc_provider.config import Identity, ProviderConfig
from tools.oidc_provider.server import OIDCProviderServer

__all__ = ["Identity", "OIDCProviderServer", "ProviderConfig"]

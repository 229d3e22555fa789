"""Run the provider inside the current process: uvicorn on a background thread.

    with OIDCProviderServer(ProviderConfig(redirect_uris=[...])) as idp:
        idp.issuer              # "http://127.0.0.1:PORT", discovery under /.well-known/

Starting and stopping are tools.loopback's: the socket is bound first, so the port (and with
it the issuer) is known before the thread starts.
"""

from __future__ import annotations

from tools.loopback import LoopbackServer
from tools.oidc_provider.app import create_app
from tools.oidc_provider.authority import Authority
from tools.oidc_provider.config import ProviderConfig
from tools.oidc_provider.state import State


class OIDCProviderServer(LoopbackServer):
    name = "OIDC provider"

    def __init__(
        self, config: ProviderConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        self.config = config or ProviderConfig()
        self.state = State()
        self.authority = Authority(self.config, self.state)
        self.app = create_app(self.authority)

    @property
    def issuer(self) -> str:
        return self.url

    def bound(self) -> None:
        self.authority.issuer = self.issuer

"""Run the provider inside the current process: uvicorn on a background thread.

    with OIDCProviderServer(ProviderConfig(redirect_uris=[...])) as idp:
        idp.issuer              # "http://127.0.0.1:PORT", discovery under /.well-known/

Like the Moonshot emulator's server: the socket is bound first, so the port (and with it the
issuer) is known before the thread starts; `start()` raises if uvicorn did not come up.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from tools.moonshot_emulator.server import bind_socket
from tools.oidc_provider.app import create_app
from tools.oidc_provider.authority import Authority
from tools.oidc_provider.config import ProviderConfig
from tools.oidc_provider.state import State


class OIDCProviderServer:
    def __init__(
        self, config: ProviderConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or ProviderConfig()
        self.state = State()
        self.authority = Authority(self.config, self.state)
        self.app = create_app(self.authority)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def uvicorn_config(self) -> uvicorn.Config:
        return uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")

    def bind(self) -> socket.socket:
        """Bind the listening socket and fix the issuer to its port."""
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.authority.issuer = self.issuer
        return sock

    def start(self, timeout: float = 10.0) -> OIDCProviderServer:
        sock = self.bind()
        self._server = uvicorn.Server(self.uvicorn_config())
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="oidc-provider", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the OIDC provider did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> OIDCProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""An ASGI app served by uvicorn on a background thread of this process, for the test tools
(the Moonshot emulator, the OIDC provider).

The socket is bound before the thread starts, so the port is known at once and a busy port
fails in the caller, not silently in the thread. `start()` waits until uvicorn is serving and
raises if it died first; `stop()` asks uvicorn to exit, gives open streams a second, and joins.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn


def bind_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class LoopbackServer:
    """Subclasses set ``app`` (and may override ``bound`` to learn the port)."""

    name = "loopback server"
    app: Any
    access_log = False

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def uvicorn_config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=self.access_log,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )

    def bind(self, backlog: int = 128) -> socket.socket:
        """Bind the listening socket; the port is known from here on."""
        sock = bind_socket(self.host, self.port, backlog)
        self.port = sock.getsockname()[1]
        self.bound()
        return sock

    def bound(self) -> None:
        """Called once the port is known (e.g. to fix an issuer URL to it)."""

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"the {self.name} is already running")
        self._socket = self.bind()
        self._server = uvicorn.Server(self.uvicorn_config())
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

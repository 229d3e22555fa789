"""Run the emulator inside the current process: uvicorn on a background thread.

    with EmulatorServer(EmulatorConfig(rpm=3)) as emu:
        emu.base_url            # "http://127.0.0.1:PORT/v1"

The socket is bound before the thread starts, so the port is known at once and a busy port
fails in the caller, not silently in the thread. `start()` waits until uvicorn is serving and
raises if it died first; `stop()` asks uvicorn to exit, gives open streams a second, and joins.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from tools.moonshot_emulator.app import create_app
from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.faults import Faults
from tools.moonshot_emulator.state import State


class _QuietDrops(logging.Filter):
    """A dropped stream (a fault the test asked for) is not a server error worth a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing response."


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


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


class EmulatorServer:
    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.state = State()
        self.faults = Faults()
        self.app = create_app(self.config, self.state, self.faults)
        self.host = host
        self.port = port
        self._access_log = access_log
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reset(self) -> None:
        """Forget files, calls, rate windows, the prefix cache and every armed fault."""
        self.state.reset()
        self.faults.clear()

    def uvicorn_config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=self._access_log,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._socket = bind_socket(self.host, self.port)
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(self.uvicorn_config())
        sockets = [self._socket]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name="moonshot-emulator"
        )
        self._thread.daemon = True
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Moonshot emulator did not start")
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

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

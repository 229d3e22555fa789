"""Run the emulator inside the current process: uvicorn on a background thread.

    with EmulatorServer(EmulatorConfig(rpm=3)) as emu:
        emu.base_url            # "http://127.0.0.1:PORT/v1"

Starting and stopping are tools.loopback's (the port is known before the thread starts).
"""

from __future__ import annotations

import logging

from tools.loopback import LoopbackServer, bind_socket
from tools.moonshot_emulator.app import create_app
from tools.moonshot_emulator.config import EmulatorConfig
from tools.moonshot_emulator.faults import Faults
from tools.moonshot_emulator.state import State

__all__ = ["EmulatorServer", "bind_socket"]


class _QuietDrops(logging.Filter):
    """A dropped stream (a fault the test asked for) is not a server error worth a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing response."


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class EmulatorServer(LoopbackServer):
    name = "Moonshot emulator"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
    ) -> None:
        super().__init__(host, port)
        self.config = config or EmulatorConfig()
        self.state = State()
        self.faults = Faults()
        self.app = create_app(self.config, self.state, self.faults)
        self.access_log = access_log

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reset(self) -> None:
        """Forget files, calls, rate windows, the prefix cache and every armed fault."""
        self.state.reset()
        self.faults.clear()

"""A throwaway Redis a test can stop and start again (outage tests), beside the test Redis."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from docqa.local_services import _redis_server_binary


class ThrowawayRedis:
    """redis-server in the foreground on a Unix socket in a temporary directory, with an
    append-only file, so a restart keeps what was written (as the project's local Redis)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="docqa-r-"))
        self.socket = self.dir / "r.sock"
        self.url = f"unix://{self.socket}?db=0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [_redis_server_binary(), "--port", "0", "--unixsocket", str(self.socket)]
        command += ["--dir", str(self.dir), "--appendonly", "yes", "--save", ""]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline:
                raise RuntimeError("throwaway redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)

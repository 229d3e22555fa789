"""/healthz checks Redis as well as the database, and says quickly which one is down: a web
process (uvicorn subprocess) on a Redis of its own that the test kills and starts again, and a
Redis that accepts connections but never answers."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from docqa import local_services
from docqa.processes import serve
from tests.conftest import test_database_url as database_url

BASE_DIR = Path(__file__).resolve().parent.parent


class PrivateRedis:
    """A redis-server of this test alone, on a Unix socket (short path: sockets allow ~100)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hz-"))
        self.socket = self.dir / "r.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                local_services._redis_server_binary(),
                *("--port", "0", "--unixsocket", str(self.socket), "--dir", str(self.dir)),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not local_services._redis_ping(self.socket):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)


def _healthz(url: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic() - started


def test_healthz_says_redis_is_down_quickly_and_recovers_with_it(transactional_db, private_redis):
    env = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": private_redis.url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    with serve(env, log_path=BASE_DIR / "var" / "test-healthz-uvicorn.log") as (url, _proc):
        assert _healthz(url)[:2] == (200, {"status": "ok", "database": "ok", "redis": "ok"})

        private_redis.kill()
        status, body, took = _healthz(url)
        assert status == 503
        assert body == {"status": "unavailable", "database": "ok", "redis": "down"}
        assert took < 2, took

        private_redis.start()  # back: healthy again, nothing restarted
        assert _healthz(url)[:2] == (200, {"status": "ok", "database": "ok", "redis": "ok"})


def test_healthz_does_not_hang_on_a_redis_that_never_answers(db, settings):
    with socket.socket() as silent:  # accepts connections (backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        response = Client().get("/healthz")
        took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["redis"] == "down" and response.json()["database"] == "ok"
    assert took < 2.5, took

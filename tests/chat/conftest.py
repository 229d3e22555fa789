"""Chat fixtures: the provider emulator, ready documents, and the ASGI app served by uvicorn in
this process (so a test can read the emulator, the admission controller and the database while
a real HTTP stream is open, and close that stream like a browser tab would)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from django.test import Client

from apps.chat import streaming
from apps.documents.models import Document, ExtractedText, Status
from apps.moonshot.admission import reset_controller
from apps.moonshot.tokens import estimate_tokens
from apps.workspaces.models import Membership, Workspace
from tests.provider import API_KEY, FAST_RETRY
from tools.moonshot_emulator import EmulatorServer
from tools.moonshot_emulator.server import bind_socket

CSRF_TOKEN = "chattestcsrftoken0123456789abcde"  # 32 characters: Django accepts it unmasked


def ready_document(workspace: Workspace, name: str, text: str, user: Any = None) -> Document:
    """A READY document with its extracted text, without running the ingestion pipeline."""
    digest = hashlib.sha256(f"{workspace.pk}:{name}:{text}".encode()).hexdigest()
    extracted = ExtractedText.objects.create(
        sha256=digest,
        content=json.dumps({"content": text, "filename": name}),
        text=text,
        token_count=estimate_tokens(text),
        extractor="test",
    )
    return Document.objects.create(
        workspace=workspace,
        uploaded_by=user,
        name=name,
        storage_name=f"test/{digest}",
        size=len(text.encode()),
        sha256=digest,
        extension=name.rsplit(".", 1)[-1],
        mime_type="text/plain",
        status=Status.READY,
        text=extracted,
    )


@pytest.fixture
def owner_membership(team, owner) -> Membership:
    return Membership.objects.get(workspace=team, user=owner)


@pytest.fixture
def online(settings, emulator: EmulatorServer, monkeypatch) -> Iterator[EmulatorServer]:
    """Chat talks to the emulator over loopback, with quick retries."""
    settings.MOONSHOT_API_KEY = API_KEY
    settings.MOONSHOT_BASE_URL = emulator.base_url
    monkeypatch.setattr(streaming, "RETRY_POLICY", FAST_RETRY)
    monkeypatch.setattr(streaming, "HEARTBEAT_SECONDS", 0.5)
    reset_controller()
    yield emulator
    reset_controller()


@pytest.fixture
def offline(settings, monkeypatch) -> None:
    settings.MOONSHOT_API_KEY = ""
    monkeypatch.setattr(streaming, "HEARTBEAT_SECONDS", 0.5)


class AppServer:
    """docqa.asgi.application under uvicorn on a background thread, on a free loopback port."""

    def __init__(self) -> None:
        from docqa.asgi import application

        self._socket = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            application, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def client(self, user: Any) -> httpx.Client:
        return logged_in_client(self.url, user)


def logged_in_client(base_url: str, user: Any) -> httpx.Client:
    """An HTTP client of the app at `base_url`, logged in as `user`, sending the CSRF cookie and
    header like chat.js."""
    django_client = Client()
    django_client.force_login(user)
    cookies = {"sessionid": django_client.cookies["sessionid"].value, "csrftoken": CSRF_TOKEN}
    return httpx.Client(
        base_url=base_url,
        cookies=cookies,
        headers={"X-CSRFToken": CSRF_TOKEN},
        timeout=httpx.Timeout(30.0),
    )


@pytest.fixture
def app_server(transactional_db) -> Iterator[AppServer]:
    server = AppServer().start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Event:
    name: str
    data: Any
    at: float  # time.monotonic() when it arrived


@dataclass
class StreamLog:
    status: int
    headers: httpx.Headers
    events: list[Event] = field(default_factory=list)
    body: Any = None

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def first(self, name: str) -> Event:
        return self.named(name)[0]

    @property
    def text(self) -> str:
        return "".join(e.data["text"] for e in self.named("delta"))


def iter_events(response: httpx.Response) -> Iterator[Event]:
    """Parse SSE as it arrives (comments skipped, multi-line data joined)."""
    name, data = "", []
    for line in response.iter_lines():
        if line == "":
            if data:
                raw = "\n".join(data)
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw
                yield Event(name or "message", value, time.monotonic())
            name, data = "", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def stream(client: httpx.Client, url: str, body: dict | None = None) -> StreamLog:
    """POST and read the whole answer."""
    with client.stream("POST", url, json=body or {}) as response:
        log = StreamLog(response.status_code, response.headers)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()
            log.body = response.json()
            return log
        log.events.extend(iter_events(response))
    return log


def wait_for(condition, timeout: float = 10.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.02)

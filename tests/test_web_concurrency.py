"""`make run` with WEB_CONCURRENCY=2, for real: docqa.runstack runs two uvicorn web processes
behind one port (real Postgres, Redis, Celery, the emulator as provider). A login on one
request holds on every later request, whichever process serves it; concurrent streamed answers
are served by both processes (each holds some of the connections, seen in /proc); and when one
web process is SIGKILLed, requests keep being answered and uvicorn starts a new one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.urls import reverse

from apps.chat import services
from apps.chat.models import Conversation
from docqa.processes import free_port
from docqa.runstack import web_concurrency
from tests.chat.conftest import iter_events, ready_document
from tests.conftest import PASSWORD
from tests.conftest import test_database_url as database_url

BASE_DIR = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.celery_worker
FACT = "The emergency shutdown valve is tested every 90 days by the night shift."


def _children(parent: int) -> dict[int, list[str]]:
    """`parent`'s child processes and their command lines (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent:
            found[int(entry.name)] = argv
    return found


def _web_processes(stack: int) -> tuple[int, set[int]]:
    """The uvicorn manager under the stack, and its web worker processes."""
    [manager] = [pid for pid, argv in _children(stack).items() if "uvicorn" in argv]
    workers = {pid for pid, argv in _children(manager).items() if "--multiprocessing-fork" in argv}
    return manager, workers


def _established(pid: int, port: int) -> int:
    """How many established TCP connections to `port` process `pid` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def _wait(condition: Callable[[], object], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s; log:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def _log_in(base: str, email: str) -> httpx.Client:
    """A browser-like client logged in through the real login form. No keep-alive: every
    request opens its own connection, so the kernel hands each to either web process."""
    client = httpx.Client(
        base_url=base, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    )
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = client.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token[1], "username": email, "password": PASSWORD},
    )
    assert response.status_code == 302 and "/accounts/login/" not in response.headers["location"]
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def _ask(client: httpx.Client, conversation: Conversation, results: list[str]) -> None:
    url = reverse("chat:ask", args=[conversation.workspace.slug, conversation.pk])
    with client.stream("POST", url, json={"question": "How often is the valve tested?"}) as r:
        events = list(iter_events(r)) if r.status_code == 200 else []
    text = "".join(e.data["text"] for e in events if e.name == "delta")
    results.append(text if events and events[-1].name == "done" else f"failed: {r.status_code}")


def test_two_web_processes_share_logins_serve_streams_and_survive_losing_one(
    transactional_db, provider_settings, team, owner, tmp_path
):
    provider_settings.config.chunk_delay = 0.1
    provider_settings.config.chunk_chars = 4
    ready_document(team, "maintenance.txt", FACT, owner)
    conversations = [services.create_conversation(workspace=team, user=owner) for _ in range(12)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DJANGO_DEBUG": "1",
        "DOCQA_BEAT_SCHEDULE": str(tmp_path / "celerybeat-schedule"),
        "DOCQA_ADMIN_PASSWORD": "runstack-admin-password-42",
        "CELERY_CONCURRENCY": "1",
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log = tmp_path / "runstack.log"
    with open(log, "wb") as out:
        stack = subprocess.Popen(
            [sys.executable, "-m", "docqa.runstack"],
            env=env,
            cwd=BASE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(lambda: _get_status(f"{base}/healthz") == 200, 90, "no /healthz answer", log)
        manager, workers = _web_processes(stack.pid)
        assert len(workers) == 2, workers
        assert "with 2 web processes" in log.read_text()

        # One login; forty later requests on fresh connections are all signed in.
        client = _log_in(base, owner.email)
        page = reverse("chat:detail", args=[team.slug, conversations[0].pk])
        statuses = [client.get(page).status_code for _ in range(40)]
        assert statuses == [200] * 40

        # Twelve answers stream at once; both processes hold some of their connections.
        results: list[str] = []
        threads = [
            threading.Thread(target=_ask, args=(client, conversation, results))
            for conversation in conversations
        ]
        for thread in threads:
            thread.start()
        most = dict.fromkeys(workers, 0)
        while any(thread.is_alive() for thread in threads):
            for pid in workers:
                most[pid] = max(most[pid], _established(pid, port))
            time.sleep(0.05)
        assert len(results) == 12 and all("every 90 days" in r for r in results), results
        assert all(count >= 1 for count in most.values()), most
        print(f"streams held at most by each web process: {sorted(most.values())}")

        # SIGKILL one web process: the other keeps answering, uvicorn replaces the dead one.
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        statuses = [client.get(page).status_code for _ in range(20)]
        assert statuses == [200] * 20
        _wait(
            lambda: len(_web_processes(stack.pid)[1] - {victim}) == 2,
            30,
            "the killed web process was not replaced",
            log,
        )
        assert _web_processes(stack.pid)[0] == manager  # the supervisor had nothing to do
        text = log.read_text()
        assert f"Child process [{victim}] died" in text
        assert "web restarted" not in text
        assert [client.get(page).status_code for _ in range(10)] == [200] * 10
        client.close()
    finally:
        if stack.poll() is None:
            stack.send_signal(signal.SIGTERM)
        try:
            code = stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    assert code == 0, log.read_text()[-4000:]


def _get_status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_web_concurrency_must_be_a_whole_number_of_at_least_one(monkeypatch, value):
    monkeypatch.setenv("WEB_CONCURRENCY", value)
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY must be a whole number"):
        web_concurrency()


def test_web_concurrency_defaults_to_one_process(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert web_concurrency() == 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert web_concurrency() == 3

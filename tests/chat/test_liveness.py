"""An answer whose web process dies mid-stream: its lease runs out, the sweep marks it
interrupted with the text it had, and the page offers a retry. The web server runs as a real
uvicorn subprocess (killed with SIGKILL, as the operating system or an operator would), the
provider is the emulator over loopback, and the database is the real test database."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from apps.chat import services
from apps.chat.markdown import render_markdown
from apps.chat.models import Conversation, Message, Role, Status
from apps.chat.tasks import interrupt_orphaned_answers
from docqa.processes import serve
from tests.browser import BASE_DIR, log_in
from tests.conftest import PASSWORD
from tests.conftest import test_database_url as database_url
from tests.provider import API_KEY
from tools.moonshot_emulator import EmulatorServer

from .conftest import iter_events, logged_in_client, ready_document, stream, wait_for

FACT = "The emergency shutdown valve is tested every 90 days by the night shift."
LONG_ANSWER = "The valves are checked in a fixed order, one by one, and logged. " * 80
LEASE_SECONDS = 3.0  # short leases, so the test does not wait the default 45 s
RENEW_SECONDS = 0.5


@pytest.fixture
def conversation(transactional_db, team, owner) -> Conversation:
    ready_document(team, "maintenance.txt", FACT, owner)
    return services.create_conversation(workspace=team, user=owner)


def _web_env(emulator: EmulatorServer) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MOONSHOT_API_KEY": API_KEY,
        "MOONSHOT_BASE_URL": emulator.base_url,
        "CHAT_STREAM_LEASE_SECONDS": str(LEASE_SECONDS),
        "CHAT_STREAM_LEASE_RENEW_SECONDS": str(RENEW_SECONDS),
    }


@pytest.fixture
def web(emulator: EmulatorServer, conversation) -> Iterator[tuple[str, object]]:
    """uvicorn serving the app in a subprocess of its own (its group can be SIGKILLed)."""
    log_path = BASE_DIR / "var" / "test-liveness-uvicorn.log"
    with serve(_web_env(emulator), log_path=log_path) as (url, proc):
        yield url, proc


def _url(conversation: Conversation, what: str = "") -> str:
    base = f"/w/{conversation.workspace.slug}/chat/{conversation.pk}/"
    return f"{base}{what}/" if what else base


def _answer(conversation: Conversation) -> Message:
    return Message.objects.get(conversation=conversation, role=Role.ASSISTANT)


def test_an_answer_whose_web_process_was_killed_is_interrupted_within_its_lease(
    emulator, web, conversation, owner
):
    url, proc = web
    emulator.config.chunk_chars = 4
    emulator.config.chunk_delay = 0.05
    emulator.faults.answer_override = LONG_ANSWER
    with (
        logged_in_client(url, owner) as client,
        client.stream("POST", _url(conversation, "ask"), json={"question": "Valve order?"}) as r,
    ):
        seen = ""
        # Kept referenced: a generator dropped mid-way is closed, which closes the connection,
        # and the server would save the answer as stopped (a closed tab) before it is killed.
        events = iter_events(r)
        for event in events:
            if event.name == "delta":
                seen += event.data["text"]
            # Streamed for more than a renewal: the row holds some of the text.
            if len(seen) > 40 and _answer(conversation).content:
                break
        os.killpg(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait()
        assert r.is_closed is False  # the client was still reading when the server died

    # Right after the death the lease still holds: a sweep leaves the answer alone...
    assert interrupt_orphaned_answers() == 0, Message.objects.values("lease_until", "status")
    assert _answer(conversation).status == Status.STREAMING
    # ...and once it runs out (no renewal comes any more), the next sweep marks it.
    wait_for(
        lambda: interrupt_orphaned_answers() == 1,
        timeout=LEASE_SECONDS + 3,
        message="the orphaned answer interrupted",
    )
    took = time.monotonic() - killed_at
    assert took <= LEASE_SECONDS + 1, took
    answer = _answer(conversation)
    assert answer.status == Status.INTERRUPTED
    assert answer.retryable and answer.finished_at is not None
    # The text saved by its last renewal is kept: a real part of the answer, not all of it.
    assert answer.content and LONG_ANSWER.startswith(answer.content)
    assert len(answer.content) < len(LONG_ANSWER)
    question = Message.objects.get(conversation=conversation, role=Role.USER)
    assert question.content == "Valve order?"

    # The page shows it as interrupted, with the question, the partial text and a retry.
    page = Client()
    page.force_login(owner)
    html = page.get(_url(conversation)).content.decode()
    assert "Valve order?" in html
    assert 'class="bubble assistant is-interrupted"' in html
    assert "The answer was interrupted" in html
    assert "What it had written is kept above." in html
    assert render_markdown(answer.content, {}) in html
    assert "data-retry" in html


def test_the_page_marks_an_expired_answer_even_before_the_sweep_runs(
    offline, conversation, owner, owner_membership
):
    from datetime import timedelta

    from django.utils import timezone

    turn = services.start_turn(
        conversation=conversation, membership=owner_membership, question="Who tests it?"
    )
    services.open_answer(turn)
    Message.objects.filter(pk=turn.answer_id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    page = Client()
    page.force_login(owner)
    html = page.get(_url(conversation)).content.decode()
    assert "is-interrupted" in html and "data-retry" in html
    assert "This answer is still being written" not in html
    assert Message.objects.get(pk=turn.answer_id).status == Status.INTERRUPTED


def test_a_live_stream_that_outlasts_its_lease_is_never_interrupted(
    online, app_server, conversation, owner, settings
):
    settings.CHAT_STREAM_LEASE_SECONDS = 2.0
    settings.CHAT_STREAM_LEASE_RENEW_SECONDS = 0.25
    online.config.chunk_chars = 8
    online.config.chunk_delay = 0.05
    online.faults.answer_override = LONG_ANSWER[:640]  # 80 pieces: about 4 s, two leases
    swept = []
    with (
        app_server.client(owner) as client,
        client.stream("POST", _url(conversation, "ask"), json={"question": "Valve order?"}) as r,
    ):
        swept_at = 0.0
        for _event in iter_events(r):
            if time.monotonic() - swept_at > 0.1:
                swept.append(services.interrupt_orphaned_answers())
                swept_at = time.monotonic()
    assert sum(swept) == 0 and len(swept) > 20, swept
    answer = _answer(conversation)
    assert answer.status == Status.COMPLETE and answer.content == LONG_ANSWER[:640]
    assert answer.lease_until is None


@pytest.mark.browser
def test_retry_on_an_interrupted_answer_in_the_browser(
    emulator, web, conversation, owner, owner_membership, browser_page
):
    url, _proc = web
    with logged_in_client(url, owner) as client:  # a first answer, interrupted afterwards
        stream(client, _url(conversation, "ask"), {"question": "How often is the valve tested?"})
    answer = _answer(conversation)
    Message.objects.filter(pk=answer.pk).update(
        status=Status.STREAMING, content="The valve is", lease_until=answer.created_at
    )
    assert services.interrupt_orphaned_answers() == 1

    page = browser_page
    log_in(page, url, owner.email, PASSWORD)
    page.goto(f"{url}{_url(conversation)}")
    bubble = page.locator(".bubble.assistant.is-interrupted")
    assert "The valve is" in bubble.inner_text()
    assert "The answer was interrupted" in bubble.inner_text()
    page.click("[data-retry]")
    page.wait_for_selector(".bubble.assistant.is-complete")
    assert "every 90 days" in page.locator(".bubble.assistant .answer").inner_text()
    assert page.locator(".bubble.user").all_inner_texts() == ["How often is the valve tested?"]
    wait_for(lambda: _answer(conversation).status == Status.COMPLETE, message="retried answer")
    assert "every 90 days" in _answer(conversation).content

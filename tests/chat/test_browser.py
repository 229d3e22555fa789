"""The chat page in Chromium: the app under uvicorn (a subprocess, like `make run`) answering
through the provider emulator, which runs in this test process on loopback."""

from __future__ import annotations

import time

import pytest

from apps.chat.models import Message, Role, Status
from tests.browser import ARTIFACTS, log_in
from tests.conftest import PASSWORD
from tests.moonshot.conftest import API_KEY
from tools.moonshot_emulator import EmulatorServer

from .conftest import ready_document, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.celery_worker]

FACT = "The emergency shutdown valve is tested every 90 days by the night shift."
LONG_ANSWER = "The valves are checked in a fixed order, one by one, and logged. " * 60


@pytest.fixture
def chat_app(
    transactional_db, emulator: EmulatorServer, monkeypatch, request
) -> tuple[str, EmulatorServer]:
    """The live app with a provider key, pointed at the emulator. (`live_app` is requested only
    once the environment is set; `transactional_db` up front, so the test's own rows are
    committed where the app's processes can see them.)"""
    monkeypatch.setenv("MOONSHOT_API_KEY", API_KEY)
    monkeypatch.setenv("MOONSHOT_BASE_URL", emulator.base_url)
    return request.getfixturevalue("live_app"), emulator


def answer_texts(page) -> list[str]:
    return page.locator(".bubble.assistant .answer").all_inner_texts()


def test_ask_watch_it_stream_stop_and_reload(chat_app, browser_page, team, owner):
    base, emulator = chat_app
    emulator.config.chunk_chars = 4
    emulator.config.chunk_delay = 0.03
    ready_document(team, "maintenance.txt", f"Gaskets are replaced each spring.\n\n{FACT}", owner)
    page = browser_page
    log_in(page, base, owner.email, PASSWORD)

    page.goto(f"{base}/w/{team.slug}/")
    page.click("nav.tabs >> text=Chat")
    page.click("main >> text=New conversation")
    page.wait_for_selector("[data-composer]")
    assert "1 document" in page.inner_text("[data-budget-count]")
    assert "of 8192 tokens" in page.inner_text("[data-budget]")

    # Ask: the answer grows on the page while it streams, then completes with usage.
    page.fill("#question", "How often is the emergency shutdown valve tested?")
    page.keyboard.press("Enter")
    lengths = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = page.evaluate(
            """() => {
              const b = [...document.querySelectorAll('.bubble.assistant')].pop();
              return b ? [b.className, b.querySelector('.answer').textContent.length] : ['', 0];
            }"""
        )
        if "is-complete" in state[0]:
            break
        if "is-streaming" in state[0]:
            lengths.append(state[1])
        time.sleep(0.03)
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, lengths  # seen at several lengths before it was complete
    done = page.locator(".bubble.assistant.is-complete")
    assert "every 90 days" in done.locator(".answer").inner_text()
    usage = done.locator(".usage").inner_text()
    assert "moonshot-v1-8k" in usage and "completion tokens" in usage and "¥" in usage
    assert done.locator(".usage a", has_text="maintenance.txt").count() == 1
    check = done.locator("[data-quote-check]").inner_text()
    assert "The quotation was found in the documents." in check
    assert page.input_value("#conv-title") == "How often is the emergency shutdown valve tested?"
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # A long answer, stopped halfway.
    emulator.faults.answer_override = LONG_ANSWER
    page.fill("#question", "In which order are the valves checked?")
    page.click("[data-send]")
    wait_for(lambda: len(answer_texts(page)[-1]) > 60, timeout=20, message="streamed text")
    page.click("[data-stop]")
    page.wait_for_selector(".bubble.assistant.is-stopped")
    assert "Stopped. The partial answer is saved." in page.inner_text(".bubble.is-stopped")
    assert page.locator("[data-stop]").is_hidden()
    wait_for(
        lambda: Message.objects.filter(role=Role.ASSISTANT, status=Status.STOPPED).exists(),
        message="the stopped answer saved",
    )
    wait_for(lambda: emulator.state.stream_disconnects == 1, message="upstream closed")
    stopped = Message.objects.get(role=Role.ASSISTANT, status=Status.STOPPED)
    assert 60 < len(stopped.content) < len(LONG_ANSWER)

    # Reload: the whole history is there, rendered from the database.
    page.reload()
    bubbles = page.locator(".messages-list .bubble")
    assert bubbles.count() == 4
    assert "every 90 days" in bubbles.nth(1).inner_text()
    assert "In which order are the valves checked?" in bubbles.nth(2).inner_text()
    assert "Stopped. The partial answer is saved." in bubbles.nth(3).inner_text()
    assert "How often is the emergency" in page.inner_text(".conversation-list")
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "chat-dark.png"), full_page=True)


def test_a_question_over_the_daily_limit_is_refused_and_given_back(
    chat_app, browser_page, team, owner
):
    base, _emulator = chat_app
    ready_document(team, "maintenance.txt", FACT, owner)
    team.max_tokens_per_day = 10  # any one answer uses more: the second question is refused
    team.save(update_fields=["max_tokens_per_day"])
    page = browser_page
    log_in(page, base, owner.email, PASSWORD)
    page.goto(f"{base}/w/{team.slug}/chat/")
    page.click("main >> text=New conversation")
    page.wait_for_selector("[data-composer]")

    assert "used 0 of its 10 chat tokens today" in page.inner_text("[data-daily-tokens]")
    page.fill("#question", "How often is the valve tested?")
    page.keyboard.press("Enter")
    page.wait_for_selector(".bubble.assistant.is-complete")

    page.fill("#question", "Who tests it?")
    page.keyboard.press("Enter")
    alert = page.wait_for_selector(".bubble.assistant.is-failed [role=alert]")
    assert "used its 10 chat tokens for today" in alert.inner_text()
    # The refused question is back in the box, not shown as sent, and offers no retry.
    assert page.input_value("#question") == "Who tests it?"
    assert page.locator(".bubble.user").all_inner_texts() == ["How often is the valve tested?"]
    assert page.locator(".bubble.assistant.is-failed button").count() == 0
    assert Message.objects.filter(role=Role.USER).count() == 1

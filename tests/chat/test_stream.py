"""The answer stream over real HTTP: uvicorn serving the ASGI app, the emulator as provider."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from apps.chat import services
from apps.chat.models import Conversation, Message, Role, Status
from apps.moonshot.admission import get_controller

from .conftest import iter_events, ready_document, stream, wait_for

FACT = "The emergency shutdown valve is tested every 90 days by the night shift."
OTHER = "Gaskets on the intake side are replaced each spring."


@pytest.fixture
def conversation(team, owner) -> Conversation:
    ready_document(team, "maintenance.txt", f"{OTHER}\n\n{FACT}", owner)
    return services.create_conversation(workspace=team, user=owner)


def ask_url(conversation: Conversation, what: str = "ask") -> str:
    return f"/w/{conversation.workspace.slug}/chat/{conversation.pk}/{what}/"


def answer_of(conversation: Conversation) -> Message:
    return Message.objects.filter(conversation=conversation, role=Role.ASSISTANT).get()


def test_answer_streams_progressively_and_is_saved_with_usage_and_cost(
    online, app_server, conversation, owner
):
    online.config.chunk_delay = 0.08
    online.config.chunk_chars = 6
    started = time.monotonic()
    with app_server.client(owner) as client:
        log = stream(
            client,
            ask_url(conversation),
            {"question": "How often is the emergency shutdown valve tested?"},
        )

    assert log.status == 200
    assert log.headers["content-type"].startswith("text/event-stream")
    assert log.headers["cache-control"] == "no-cache"
    assert log.headers["x-accel-buffering"] == "no"
    names = [e.name for e in log.events]
    assert names[0] == "meta" and names[-2:] == ["usage", "done"]
    deltas = log.named("delta")
    assert len(deltas) > 5
    # The first piece reached us long before the provider finished the answer.
    assert deltas[0].at - started < log.first("done").at - started - 0.3
    assert "every 90 days" in log.text
    assert "every 90 days" in log.named("html")[-1].data["html"]

    meta = log.first("meta").data
    assert meta["offline"] is False and meta["model"] == "moonshot-v1-8k"
    assert meta["title"] == "How often is the emergency shutdown valve tested?"
    assert meta["sources"][0]["name"] == "maintenance.txt"
    usage = log.first("usage").data
    assert usage["model"] == "moonshot-v1-8k"
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert float(usage["cost_cny"]) > 0

    answer = answer_of(conversation)
    assert answer.status == Status.COMPLETE
    assert answer.content == log.text
    assert (answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["cached_tokens"],
    )
    assert str(answer.cost_cny) == usage["cost_cny"]
    assert answer.ttft_ms is not None and answer.finished_at is not None
    wait_for(lambda: get_controller().stats()["holders"] == 0, timeout=5, message="slot release")


def test_second_question_hits_the_provider_prefix_cache(online, app_server, conversation, owner):
    with app_server.client(owner) as client:
        stream(client, ask_url(conversation), {"question": "When is the valve tested?"})
        log = stream(client, ask_url(conversation), {"question": "When are gaskets replaced?"})
    assert log.first("usage").data["cached_tokens"] > 0
    assert "each spring" in log.text


def test_closing_the_tab_cancels_upstream_frees_the_slot_and_keeps_the_partial_answer(
    online, app_server, conversation, owner
):
    online.config.chunk_delay = 0.05
    online.config.chunk_chars = 4
    online.faults.answer_override = "The valve is tested often. " * 40
    with (
        app_server.client(owner) as client,
        client.stream("POST", ask_url(conversation), json={"question": "Valve?"}) as response,
    ):
        seen = ""
        for event in iter_events(response):
            if event.name == "delta":
                seen += event.data["text"]
            if len(seen) > 30:
                # Mid-answer: one provider stream open, holding one admission slot.
                assert get_controller().stats()["holders"] == 1
                assert online.state.in_flight == 1
                break
    # Leaving the `with` closes the connection mid-stream, as a closed tab does.

    wait_for(lambda: online.state.stream_disconnects == 1, message="upstream disconnect")
    wait_for(lambda: get_controller().stats()["holders"] == 0, message="slot release")
    wait_for(lambda: answer_of(conversation).status == Status.STOPPED, message="stopped answer")
    answer = answer_of(conversation)
    assert answer.content.startswith(seen)
    assert 30 < len(answer.content) < len(online.faults.answer_override or "The valve" * 400)
    question = Message.objects.get(conversation=conversation, role=Role.USER)
    assert question.content == "Valve?"


PROVIDER_FAILURES = [
    pytest.param(
        dict(status=401, error_type="invalid_authentication_error"),
        "rejected this site's API key",
        False,
        id="bad-key",
    ),
    pytest.param(
        dict(
            status=400,
            error_type="invalid_request_error",
            message=(
                "Invalid request: Your request exceeded model token limit: 8192 (requested: 9100)"
            ),
        ),
        "too long for the model",
        False,
        id="context-too-long",
    ),
    pytest.param(
        dict(
            status=429,
            error_type="exceeded_current_quota_error",
            message="Your account is suspended, please check your plan and billing details",
        ),
        "out of credit or suspended",
        False,
        id="quota",
    ),
    pytest.param(
        dict(n=5, status=503, error_type="engine_overloaded_error"),
        "overloaded",
        True,
        id="provider-down",
    ),
]


@pytest.mark.parametrize(("fault", "words", "retryable"), PROVIDER_FAILURES)
def test_provider_errors_become_clear_messages_and_a_failed_answer(
    online, app_server, conversation, owner, fault, words, retryable
):
    online.faults.fail_next(path_prefix="/v1/chat", **fault)
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "Valve test interval?"})

    assert log.status == 200
    # (A retried 503 waits for the provider's retry-after, with heartbeats meanwhile.)
    assert [e.name for e in log.events if e.name != "waiting"] == ["meta", "error"]
    error = log.first("error").data
    assert words in error["message"]
    assert error["retryable"] is retryable
    assert "sk-" not in error["message"]

    question = Message.objects.get(conversation=conversation, role=Role.USER)
    assert question.content == "Valve test interval?"
    answer = answer_of(conversation)
    assert answer.status == Status.FAILED
    assert words in answer.error_message
    wait_for(lambda: get_controller().stats()["holders"] == 0, timeout=5, message="slot release")


def test_retry_after_a_failure_regenerates_the_answer(online, app_server, conversation, owner):
    online.faults.fail_next(status=401, error_type="invalid_authentication_error")
    with app_server.client(owner) as client:
        failed = stream(client, ask_url(conversation), {"question": "When is the valve tested?"})
        assert failed.named("error")
        log = stream(client, ask_url(conversation, "regenerate"))
    assert "every 90 days" in log.text
    messages = list(conversation.messages.values_list("role", "status"))
    assert messages == [(Role.USER, Status.COMPLETE), (Role.ASSISTANT, Status.COMPLETE)]


def test_documents_too_big_for_the_chosen_model_fail_clearly_without_calling_upstream(
    online, app_server, team, owner, owner_membership
):
    ready_document(team, "big.txt", "Paragraph about pumps and valves. " * 2000)
    conversation = services.create_conversation(workspace=team, user=owner)
    services.set_scope(
        conversation=conversation,
        membership=owner_membership,
        scope_all=True,
        document_ids=[],
        model_choice="moonshot-v1-8k",
    )
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "Pumps?"})
    assert "too long for moonshot-v1-8k" in log.first("error").data["message"]
    assert online.state.count(path="/v1/chat/completions") == 0
    answer = answer_of(conversation)
    assert answer.status == Status.FAILED and "Choose Auto" in answer.error_message


def test_offline_mode_streams_a_labelled_answer_quoting_the_passage(
    offline, app_server, conversation, owner
):
    with app_server.client(owner) as client:
        log = stream(
            client, ask_url(conversation), {"question": "How often is the shutdown valve tested?"}
        )
    assert log.first("meta").data["offline"] is True
    assert len(log.named("delta")) > 3
    assert log.text.startswith("**Offline answer**")
    assert f"> {FACT}" in log.text
    assert "[maintenance.txt]" in log.text
    html = log.named("html")[-1].data["html"]
    assert "<blockquote>" in html and 'class="citation"' in html
    assert log.first("usage").data["cost_cny"] is None
    answer = answer_of(conversation)
    assert answer.offline and answer.status == Status.COMPLETE and answer.content == log.text


def test_heartbeat_while_waiting_for_the_first_token(online, app_server, conversation, owner):
    online.config.first_token_delay = 1.3
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "Valve?"})
    waits = log.named("waiting")
    assert len(waits) >= 2
    assert waits[-1].at < log.first("delta").at


def test_queued_user_is_told_their_place(online, app_server, conversation, owner, settings):
    """With one provider slot taken, the next question waits in line and hears its place."""
    from apps.moonshot.admission import Priority

    settings.MOONSHOT_LIMITS = {"concurrency": 1, "rpm": 1000, "tpm": 10_000_000, "tpd": None}
    from apps.moonshot.admission import reset_controller

    reset_controller()
    holding = threading.Event()
    release = threading.Event()

    def hold_slot() -> None:
        with get_controller().slot(cost_tokens=10, priority=Priority.INTERACTIVE):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_slot)
    holder.start()
    holding.wait(5)
    threading.Timer(1.2, release.set).start()
    try:
        with app_server.client(owner) as client:
            log = stream(client, ask_url(conversation), {"question": "When is the valve tested?"})
    finally:
        release.set()
        holder.join()
    queued = log.named("queued")
    assert len(queued) >= 2  # told at once, then again as a heartbeat while still in line
    assert {e.data["position"] for e in queued} == {1}
    assert queued[0].data["reason"] and queued[-1].at < log.first("delta").at
    assert "every 90 days" in log.text
    reset_controller()


def test_no_database_connection_is_held_while_tokens_flow(online, app_server, conversation, owner):
    online.config.first_token_delay = 0.6
    online.config.chunk_delay = 0.1
    online.faults.answer_override = "Slowly, word by word, the answer arrives. " * 5

    def server_connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    baseline = server_connections()
    counts = []
    with (
        app_server.client(owner) as client,
        client.stream("POST", ask_url(conversation), json={"question": "Valve?"}) as response,
    ):
        for event in iter_events(response):
            if event.name == "meta":
                # The view closed its connection just before `meta`; the server process
                # behind it may take a few milliseconds to leave pg_stat_activity.
                wait_for(lambda: server_connections() <= baseline, timeout=0.5)
                assert not response.is_closed and not counts
            elif event.name in {"delta", "waiting"}:
                counts.append(server_connections())
    assert len(counts) > 5
    # A connection held while tokens flow shows in every sample. One sample above the baseline
    # is something else touching the test database for an instant (in ~1 run of 10 a thread
    # left by an earlier test of this process finishing its own short write).
    assert sum(count > baseline for count in counts) <= 1, (baseline, counts)
    assert answer_of(conversation).status == Status.COMPLETE


def test_the_answer_is_saved_as_streaming_while_the_provider_works(
    online, app_server, conversation, owner
):
    """Its row is made once the request has gone upstream, long before the first token."""
    online.config.first_token_delay = 1.0

    def streaming_answer() -> bool:
        return Message.objects.filter(
            conversation=conversation, role=Role.ASSISTANT, status=Status.STREAMING
        ).exists()

    with (
        app_server.client(owner) as client,
        client.stream("POST", ask_url(conversation), json={"question": "Valve?"}) as response,
    ):
        names = []
        for event in iter_events(response):
            names.append(event.name)
            if event.name == "meta":
                wait_for(streaming_answer, timeout=0.8, message="the streaming answer")
                assert online.state.in_flight == 1
                assert "delta" not in names
    assert answer_of(conversation).status == Status.COMPLETE and "delta" in names


def test_the_answer_is_saved_even_when_making_its_row_failed_at_first(
    online, app_server, conversation, owner, monkeypatch
):
    real_open_answer = services.open_answer
    calls = []

    def flaky_open_answer(turn):
        calls.append(turn.answer_id)
        if len(calls) == 1:
            raise RuntimeError("the database went away for a moment")
        return real_open_answer(turn)

    monkeypatch.setattr(services, "open_answer", flaky_open_answer)
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "How often is the valve tested?"})
    assert log.named("done") and len(calls) == 2
    answer = answer_of(conversation)
    assert answer.status == Status.COMPLETE and answer.content == log.text


def test_viewer_asks_in_their_own_conversation_but_not_in_others(
    offline, app_server, conversation, viewer
):
    theirs = services.create_conversation(workspace=conversation.workspace, user=viewer)
    with app_server.client(viewer) as client:
        log = stream(client, ask_url(theirs), {"question": "Valve?"})
        assert log.status == 200 and log.named("done")
        refused = stream(client, ask_url(conversation), {"question": "Valve?"})
        assert refused.status == 403 and "Only the person" in refused.body["message"]
        get = client.get(ask_url(theirs))
        assert get.status_code == 405


def test_ask_needs_the_csrf_token(offline, app_server, conversation, owner):
    with app_server.client(owner) as client:
        client.headers.pop("X-CSRFToken")
        response = client.post(ask_url(conversation), json={"question": "Valve?"})
    assert response.status_code == 403
    assert not Message.objects.filter(conversation=conversation).exists()


def test_empty_question_is_a_json_error(offline, app_server, conversation, owner):
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "   "})
    assert log.status == 400 and log.body == {
        "message": "Type a question first.",
        "retryable": False,
    }


def test_daily_token_limit_refuses_the_next_question_without_saving_it(
    online, app_server, conversation, owner
):
    workspace = conversation.workspace
    workspace.max_tokens_per_day = 50  # less than one answer's prompt: the first crosses it
    workspace.save(update_fields=["max_tokens_per_day"])
    with app_server.client(owner) as client:
        first = stream(client, ask_url(conversation), {"question": "When is the valve tested?"})
        assert first.status == 200 and first.named("done")  # the crossing answer is not cut off
        assert answer_of(conversation).prompt_tokens > 50

        refused = stream(client, ask_url(conversation), {"question": "And the gaskets?"})
        again = stream(client, ask_url(conversation, "regenerate"))
    for response in (refused, again):
        assert response.status == 429
        assert response.body["retryable"] is False
        assert "used its 50 chat tokens for today" in response.body["message"]
    # Neither the refused question nor a placeholder answer was stored; the first turn is intact.
    contents = list(conversation.messages.order_by("pk").values_list("role", "status"))
    assert contents == [(Role.USER, Status.COMPLETE), (Role.ASSISTANT, Status.COMPLETE)]
    assert online.state.count("POST", "/v1/chat/completions") == 1

    workspace.max_tokens_per_day = None  # an admin lifts the limit: chat works again at once
    workspace.save(update_fields=["max_tokens_per_day"])
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "And the gaskets?"})
    assert log.status == 200 and "each spring" in log.text


def test_answer_and_usage_when_the_provider_reports_usage_only_in_a_trailing_chunk(
    online, app_server, conversation, owner
):
    """Another reading of reference §5.3 (see tests/moonshot/test_reference_variants.py)."""
    online.config.update(stream_usage="trailing", stream_comments=True)
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "When is the valve tested?"})
    assert "every 90 days" in log.text
    usage = log.first("usage").data
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    answer = answer_of(conversation)
    assert answer.status == Status.COMPLETE and answer.completion_tokens > 0


def test_quotations_in_the_answer_are_checked_against_the_documents(
    online, app_server, conversation, owner
):
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation), {"question": "When is the valve tested?"})
    # The emulator quotes the best-matching sentence and cites its document.
    [check] = log.first("quotes").data["checks"]
    assert check == {"quote": FACT, "document": "maintenance.txt", "found": True}
    names = [e.name for e in log.events]
    assert names.index("quotes") < names.index("usage")
    assert answer_of(conversation).quotes == [check]

    online.faults.answer_override = (
        f'It says "{FACT}" [maintenance.txt] and "The valve is replaced every winter by '
        'contractors." [maintenance.txt]'
    )
    with app_server.client(owner) as client:
        log = stream(client, ask_url(conversation, "regenerate"))
    checks = log.first("quotes").data["checks"]
    assert [c["found"] for c in checks] == [True, False]
    assert answer_of(conversation).missing_quotes == [checks[1]]


def test_sources_list_the_cited_document_first_and_the_rest_as_also_in_scope(
    online, app_server, conversation, team, owner
):
    # Created after maintenance.txt: first in the scope's order is maintenance.txt, so the
    # cited-first order shows only when the answer cites the later one.
    ready_document(team, "gaskets.txt", "Gaskets on the outlet side are checked monthly.", owner)
    ready_document(team, "unrelated.txt", "The canteen opens at eight.", owner)
    online.faults.answer_override = "Outlet gaskets are checked monthly [gaskets.txt]."
    with app_server.client(owner) as client:
        log = stream(
            client, ask_url(conversation), {"question": "When are outlet gaskets checked?"}
        )
        page = client.get(f"/w/{team.slug}/chat/{conversation.pk}/").text

    assert [s["name"] for s in log.first("meta").data["sources"]] == [
        "maintenance.txt",
        "gaskets.txt",
        "unrelated.txt",
    ]
    names = [e.name for e in log.events]
    assert names.index("sources") < names.index("usage")
    sources = log.first("sources").data["sources"]
    assert [(s["name"], s["cited"]) for s in sources] == [
        ("gaskets.txt", True),
        ("maintenance.txt", False),
        ("unrelated.txt", False),
    ]
    assert answer_of(conversation).sources == sources
    cited, _, rest = page.partition("data-also-in-scope")
    assert "gaskets.txt" in cited.rsplit("Sources:", 1)[1]
    assert "maintenance.txt" in rest and "unrelated.txt" in rest
    assert "Also in scope:" in rest.split("</span>", 1)[0]

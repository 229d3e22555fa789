"""A request never overflows the model's window, even where the provider counts more tokens
than the local estimate (apps/chat/window.py), over real HTTP with the emulator as provider.

`token_scale` makes the emulator count `scale` tokens per token DocQA estimates, as a real
tokenizer may for some texts; before the provider's count was asked near the window, each of
these questions was sent as planned and answered 400 "exceeded model token limit".
"""

from __future__ import annotations

from apps.chat import services
from apps.chat.models import Message, Role, Status
from apps.moonshot.tokens import estimate_tokens

from .conftest import ready_document, stream

CHAT = "/v1/chat/completions"
COUNT = "/v1/tokenizers/estimate-token-count"
SENTENCE = "Pump P-{n} on line {n} is serviced after 4,{n:03d} running hours by team {n}. "
NEEDLE = "The spare impeller for pump P-7 is kept in cabinet 12."


def _text_of_about(tokens: int) -> str:
    parts, total, n = [NEEDLE, " "], estimate_tokens(NEEDLE), 0
    while total < tokens:
        sentence = SENTENCE.format(n=n)
        parts.append(sentence)
        total += estimate_tokens(sentence)
        n += 1
    return "".join(parts)


def _ask(app_server, user, team, question: str) -> tuple[object, Message]:
    conversation = services.create_conversation(workspace=team, user=user)
    with app_server.client(user) as client:
        log = stream(client, f"/w/{team.slug}/chat/{conversation.pk}/ask/", {"question": question})
    answer = Message.objects.get(conversation=conversation, role=Role.ASSISTANT)
    return log, answer


def test_a_plan_the_provider_counts_as_too_big_moves_to_a_larger_model(
    online, app_server, team, owner
):
    # ~6.4k estimated tokens: fits moonshot-v1-8k by the estimate (with 1024 for the answer),
    # not by the provider's count of 1.3 times as many.
    ready_document(team, "pumps.txt", _text_of_about(6400), owner)
    online.config.token_scale = 1.3

    log, answer = _ask(app_server, owner, team, "Where is the spare impeller for pump P-7?")

    assert log.named("error") == [], log.first("error").data
    assert answer.status == Status.COMPLETE
    assert answer.model == "moonshot-v1-32k"
    assert online.state.count(path=CHAT, status=400) == 0
    assert online.state.count(path=COUNT) == 1


def test_narrowed_documents_are_cut_to_what_the_provider_counts(
    online, app_server, team, owner, settings
):
    settings.MOONSHOT_CHAT_MODELS = ["moonshot-v1-8k"]  # nothing larger to move to
    ready_document(team, "pumps.txt", _text_of_about(20000), owner)
    online.config.token_scale = 1.4

    log, answer = _ask(app_server, owner, team, "Where is the spare impeller for pump P-7?")

    assert log.named("error") == [], log.first("error").data
    assert answer.status == Status.COMPLETE
    assert answer.sources[0]["narrowed"] is True
    assert online.state.count(path=CHAT, status=400) == 0
    assert online.state.count(path=CHAT, status=200) == 1
    # What admission charged is what the provider counted, not the lower local estimate.
    assert answer.prompt_tokens <= 8192 - 1024


def test_without_the_providers_count_the_plan_keeps_headroom(online, app_server, team, owner):
    ready_document(team, "pumps.txt", _text_of_about(6400), owner)
    online.config.token_scale = 1.1
    online.faults.fail_next(
        status=404, error_type="resource_not_found_error", message="not found", path_prefix=COUNT
    )

    log, answer = _ask(app_server, owner, team, "Where is the spare impeller for pump P-7?")

    assert log.named("error") == [], log.first("error").data
    assert answer.status == Status.COMPLETE
    assert online.state.count(path=COUNT) == 1
    assert online.state.count(path=CHAT, status=400) == 0


def test_a_plan_far_from_the_window_costs_no_count(online, app_server, team, owner):
    ready_document(team, "pumps.txt", _text_of_about(2000), owner)
    online.config.token_scale = 1.3

    _log, answer = _ask(app_server, owner, team, "Where is the spare impeller for pump P-7?")

    assert answer.status == Status.COMPLETE and answer.model == "moonshot-v1-8k"
    assert online.state.count(path=COUNT) == 0

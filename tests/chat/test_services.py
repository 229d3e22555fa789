"""Chat services and selectors on the real database (no streaming here)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from apps.chat import selectors, services
from apps.chat.budget import budget_for
from apps.chat.models import Conversation, Message, Role, Status
from apps.moonshot.types import Usage
from apps.workspaces.models import Membership
from apps.workspaces.models import Role as WorkspaceRole
from tests.conftest import add_member

from .conftest import ready_document

pytestmark = pytest.mark.django_db


def _membership(team, user) -> Membership:
    return Membership.objects.get(workspace=team, user=user)


def _ask(**kwargs) -> services.PreparedTurn:
    """A turn as the stream view makes it: the question, then its answer."""
    turn = services.start_turn(**kwargs)
    services.open_answer(turn)
    return turn


@pytest.fixture
def conversation(team, owner) -> Conversation:
    return services.create_conversation(workspace=team, user=owner)


def test_title_comes_from_the_first_question_only(offline, conversation, owner_membership):
    _ask(
        conversation=conversation,
        membership=owner_membership,
        question="  What is   the warranty\nperiod for the pump?  ",
    )
    conversation.refresh_from_db()
    assert conversation.title == "What is the warranty period for the pump?"
    _ask(conversation=conversation, membership=owner_membership, question="And the valves?")
    conversation.refresh_from_db()
    assert conversation.title == "What is the warranty period for the pump?"


def test_long_titles_are_cut_at_a_word():
    title = services.make_title("word " * 40)
    assert len(title) <= services.TITLE_LENGTH
    assert title.endswith("word…")


def test_start_turn_saves_the_question_and_open_answer_a_streaming_answer(
    offline, team, conversation, owner_membership
):
    doc = ready_document(team, "pump.txt", "The pump warranty lasts 24 months.")
    turn = services.start_turn(
        conversation=conversation, membership=owner_membership, question="Warranty?"
    )
    (question,) = Message.objects.filter(conversation=conversation)
    assert (question.role, question.content, question.status) == (
        Role.USER,
        "Warranty?",
        Status.COMPLETE,
    )
    assert turn.answer_id is None and turn.question_id == question.pk
    assert "24 months" in turn.offline_answer
    assert turn.citation_urls == {"pump.txt": f"/w/{team.slug}/documents/{doc.pk}/"}

    answer_id = services.open_answer(turn)
    assert services.open_answer(turn) == answer_id == turn.answer_id  # once only
    question, answer = Message.objects.filter(conversation=conversation)
    assert (answer.pk, answer.role, answer.status, answer.offline) == (
        answer_id,
        Role.ASSISTANT,
        Status.STREAMING,
        True,
    )
    assert answer.sources == [{"id": doc.pk, "name": "pump.txt", "narrowed": False}]


def test_an_answer_sorts_just_after_its_question(offline, conversation, owner_membership):
    first = services.start_turn(
        conversation=conversation, membership=owner_membership, question="First?"
    )
    second = services.start_turn(
        conversation=conversation, membership=owner_membership, question="Second?"
    )
    services.open_answer(second)
    services.open_answer(first)
    assert list(conversation.messages.values_list("pk", flat=True)) == [
        first.question_id,
        first.answer_id,
        second.question_id,
        second.answer_id,
    ]


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when the insert commits
def test_no_answer_is_opened_once_the_conversation_is_deleted(
    offline, conversation, owner_membership
):
    turn = services.start_turn(
        conversation=conversation, membership=owner_membership, question="Gone?"
    )
    conversation.delete()
    assert services.open_answer(turn) is None
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)  # real commits: what is saved survives the failure
def test_the_question_is_committed_even_when_saving_its_answer_fails(
    offline, conversation, owner_membership, monkeypatch
):
    real_save = Message.save

    def failing_save(self, *args, **kwargs):
        if self.role == Role.ASSISTANT:
            raise RuntimeError("the database went away")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Message, "save", failing_save)
    with pytest.raises(RuntimeError):
        _ask(conversation=conversation, membership=owner_membership, question="Kept?")
    saved = Message.objects.filter(conversation=conversation)
    assert [(m.role, m.content) for m in saved] == [(Role.USER, "Kept?")]


@pytest.mark.django_db(transaction=True)  # two threads, two connections, real commits
def test_two_questions_at_once_in_one_conversation_are_both_saved_with_their_answers(
    offline, conversation, owner_membership
):
    def ask(question: str) -> int:
        try:
            conv = Conversation.objects.get(pk=conversation.pk)
            return _ask(conversation=conv, membership=owner_membership, question=question).answer_id
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(ask, ["First?", "Second?"]))
    saved = Message.objects.filter(conversation=conversation)
    assert sorted(m.content for m in saved if m.role == Role.USER) == ["First?", "Second?"]
    streaming = {m.pk for m in saved if m.role == Role.ASSISTANT and m.status == Status.STREAMING}
    assert streaming == set(answers)
    conversation.refresh_from_db()
    assert conversation.title in ("First?", "Second?")


def test_empty_and_oversized_questions_are_refused_before_saving(
    offline, conversation, owner_membership
):
    with pytest.raises(services.ChatError):
        _ask(conversation=conversation, membership=owner_membership, question="  ")
    with pytest.raises(services.ChatError):
        _ask(
            conversation=conversation,
            membership=owner_membership,
            question="x" * (services.MAX_QUESTION_CHARS + 1),
        )
    assert not Message.objects.exists()


def test_regenerate_replaces_the_last_answer(offline, conversation, owner_membership):
    first = _ask(conversation=conversation, membership=owner_membership, question="First?")
    services.finish_turn(answer_id=first.answer_id, text="one", status=Status.COMPLETE)
    second = _ask(conversation=conversation, membership=owner_membership, question="Second?")
    services.finish_turn(answer_id=second.answer_id, text="two", status=Status.FAILED)

    again = _ask(conversation=conversation, membership=owner_membership, regenerate=True)
    messages = list(conversation.messages.values_list("role", "content", "status"))
    assert messages == [
        (Role.USER, "First?", Status.COMPLETE),
        (Role.ASSISTANT, "one", Status.COMPLETE),
        (Role.USER, "Second?", Status.COMPLETE),
        (Role.ASSISTANT, "", Status.STREAMING),
    ]
    assert again.question_id == second.question_id
    assert not Message.objects.filter(pk=second.answer_id).exists()


def test_regenerate_needs_a_question(offline, conversation, owner_membership):
    with pytest.raises(services.ChatError):
        _ask(conversation=conversation, membership=owner_membership, regenerate=True)


def test_history_sent_upstream_skips_failed_answers(online, team, conversation, owner_membership):
    ready_document(team, "a.txt", "Alpha text.")
    first = _ask(conversation=conversation, membership=owner_membership, question="Q1")
    services.finish_turn(answer_id=first.answer_id, text="A1", status=Status.COMPLETE)
    second = _ask(conversation=conversation, membership=owner_membership, question="Q2")
    services.finish_turn(
        answer_id=second.answer_id, text="", status=Status.FAILED, error_message="x"
    )
    turn = _ask(conversation=conversation, membership=owner_membership, question="Q3")
    tail = [(m["role"], m["content"]) for m in turn.plan.messages if m["role"] != "system"]
    assert tail == [("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("user", "Q3")]
    assert not turn.offline and turn.plan.model.id == "moonshot-v1-8k"


def test_finish_turn_saves_usage_and_the_catalogue_cost(offline, conversation, owner_membership):
    turn = _ask(conversation=conversation, membership=owner_membership, question="Cost?")
    usage = Usage(prompt_tokens=10_000, completion_tokens=2_000, cached_tokens=4_000)
    answer = services.finish_turn(
        answer_id=turn.answer_id,
        text="Done.",
        status=Status.COMPLETE,
        usage=usage,
        model="kimi-k2-0905-preview",
        ttft_ms=120,
    )
    answer.refresh_from_db()
    # kimi-k2-0905-preview: 4 CNY/M input, 1 CNY/M cached input, 16 CNY/M output.
    expected = (Decimal(6_000) * 4 + Decimal(4_000) * 1 + Decimal(2_000) * 16) / 1_000_000
    assert answer.cost_cny == expected == Decimal("0.060000")
    assert (answer.prompt_tokens, answer.cached_tokens, answer.completion_tokens) == (
        10_000,
        4_000,
        2_000,
    )
    assert (answer.model, answer.status, answer.content, answer.ttft_ms) == (
        "kimi-k2-0905-preview",
        Status.COMPLETE,
        "Done.",
        120,
    )
    assert answer.finished_at is not None


def test_finish_turn_after_the_conversation_was_deleted(offline, conversation, owner_membership):
    turn = _ask(conversation=conversation, membership=owner_membership, question="Gone?")
    conversation.delete()
    assert services.finish_turn(answer_id=turn.answer_id, text="x", status="complete") is None


def test_scope_is_remembered_and_budget_follows_it(team, conversation, owner_membership):
    a = ready_document(team, "a.txt", "Alpha " * 300)
    b = ready_document(team, "b.txt", "Beta " * 30)
    everything = budget_for(conversation)
    assert everything.documents == ["a.txt", "b.txt"] and everything.fits

    services.set_scope(
        conversation=conversation,
        membership=owner_membership,
        scope_all=False,
        document_ids=[b.pk, 999_999],
        model_choice="moonshot-v1-32k",
    )
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert not conversation.scope_all
    assert list(conversation.documents.values_list("pk", flat=True)) == [b.pk]
    assert [d.id for d in selectors.scope_documents(conversation)] == [b.pk]
    only_b = budget_for(conversation)
    assert only_b.documents == ["b.txt"] and only_b.model == "moonshot-v1-32k"
    assert only_b.used < everything.used and only_b.limit == 32_768
    assert a.pk not in [d.id for d in selectors.scope_documents(conversation)]

    with pytest.raises(services.ChatError):
        services.set_scope(
            conversation=conversation,
            membership=owner_membership,
            scope_all=True,
            document_ids=[],
            model_choice="gpt-4",
        )


def test_documents_of_another_workspace_never_enter_the_scope(
    team, outsider, conversation, owner_membership
):
    from apps.workspaces.services import create_workspace

    other = create_workspace(owner=outsider, name="Other")
    foreign = ready_document(other, "secret.txt", "Other team's secret.")
    services.set_scope(
        conversation=conversation,
        membership=owner_membership,
        scope_all=False,
        document_ids=[foreign.pk],
        model_choice="auto",
    )
    assert selectors.scope_documents(conversation) == []


def test_search_by_title_and_message_text(team, owner, owner_membership):
    pumps = services.create_conversation(workspace=team, user=owner)
    services.rename_conversation(conversation=pumps, membership=owner_membership, title="Pumps")
    valves = services.create_conversation(workspace=team, user=owner)
    Message.objects.create(
        conversation=valves, workspace=team, role=Role.USER, content="Which gasket fits?"
    )
    empty = services.create_conversation(workspace=team, user=owner)

    assert list(selectors.conversations(team, "pump")) == [pumps]
    assert list(selectors.conversations(team, "GASKET")) == [valves]
    assert list(selectors.conversations(team)) == [empty, valves, pumps]  # newest first
    assert list(selectors.conversations(team, "nothing like this")) == []


def test_search_never_crosses_workspaces(team, owner, outsider):
    from apps.workspaces.services import create_workspace

    other = create_workspace(owner=outsider, name="Other")
    theirs = services.create_conversation(workspace=other, user=outsider)
    Message.objects.create(conversation=theirs, workspace=other, role=Role.USER, content="gasket")
    assert list(selectors.conversations(team, "gasket")) == []


def test_rename_and_delete_by_creator_or_admin_only(team, owner, member, owner_membership):
    admin = add_member(team, "admin@example.com", WorkspaceRole.ADMIN)
    other_member = add_member(team, "other@example.com", WorkspaceRole.MEMBER)
    mine = services.create_conversation(workspace=team, user=member)

    with pytest.raises(services.NotAllowed):
        services.rename_conversation(
            conversation=mine, membership=_membership(team, other_member), title="Mine now"
        )
    with pytest.raises(services.NotAllowed):
        services.delete_conversation(conversation=mine, membership=_membership(team, other_member))
    with pytest.raises(services.NotAllowed):
        _ask(conversation=mine, membership=_membership(team, other_member), question="Hi?")

    services.rename_conversation(
        conversation=mine, membership=_membership(team, member), title="  My   plans "
    )
    assert Conversation.objects.get(pk=mine.pk).title == "My plans"
    services.rename_conversation(
        conversation=mine, membership=_membership(team, admin), title="Reviewed"
    )
    assert Conversation.objects.get(pk=mine.pk).title == "Reviewed"
    with pytest.raises(services.ChatError):
        services.rename_conversation(conversation=mine, membership=owner_membership, title=" ")
    services.delete_conversation(conversation=mine, membership=owner_membership)
    assert not Conversation.objects.filter(pk=mine.pk).exists()


def test_answers_whose_lease_ran_out_are_interrupted_with_their_text_and_a_retry(
    offline, conversation, owner_membership, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from apps.chat.tasks import interrupt_orphaned_answers
    from docqa.celery import app

    now = timezone.now()
    dead = _ask(conversation=conversation, membership=owner_membership, question="A?")
    assert services.renew_lease(answer_id=dead.answer_id, text="Half an ans")
    done = _ask(conversation=conversation, membership=owner_membership, question="B")
    services.finish_turn(answer_id=done.answer_id, text="Done.", status=Status.COMPLETE)
    alive = _ask(conversation=conversation, membership=owner_membership, question="C")
    legacy = _ask(conversation=conversation, membership=owner_membership, question="D")
    young_legacy = _ask(conversation=conversation, membership=owner_membership, question="E")
    # A fresh answer holds a lease of CHAT_STREAM_LEASE_SECONDS from its creation.
    lease = Message.objects.get(pk=alive.answer_id).lease_until
    expected = now + timedelta(seconds=settings.CHAT_STREAM_LEASE_SECONDS)
    assert abs((lease - expected).total_seconds()) < 5
    Message.objects.filter(pk=dead.answer_id).update(lease_until=now - timedelta(seconds=1))
    # Rows from before leases existed: only an old one counts as orphaned.
    long_ago = now - timedelta(seconds=settings.CHAT_ABANDONED_AFTER_SECONDS + 5)
    Message.objects.filter(pk=legacy.answer_id).update(lease_until=None, created_at=long_ago)
    Message.objects.filter(pk=young_legacy.answer_id).update(lease_until=None)

    # The beat job runs the task by name; the task marks only the orphaned answers.
    assert "chat.interrupt_orphaned_answers" in app.tasks
    assert settings.CELERY_BEAT_SCHEDULE["chat.interrupt_orphaned"]["schedule"] <= 15
    assert interrupt_orphaned_answers() == 2
    statuses = dict(Message.objects.filter(role=Role.ASSISTANT).values_list("pk", "status"))
    assert statuses == {
        dead.answer_id: Status.INTERRUPTED,
        done.answer_id: Status.COMPLETE,
        alive.answer_id: Status.STREAMING,  # its lease holds: left alone
        legacy.answer_id: Status.INTERRUPTED,
        young_legacy.answer_id: Status.STREAMING,
    }
    interrupted = Message.objects.get(pk=dead.answer_id)
    assert interrupted.content == "Half an ans"  # what the last renewal saved is kept
    assert interrupted.retryable and "interrupted" in interrupted.error_message
    assert interrupted.finished_at is not None and interrupted.lease_until is None
    assert interrupt_orphaned_answers() == 0  # idempotent
    # An interrupted answer is no history for the next question; its question is.
    history = selectors.answered_history(conversation)
    assert ("user", "A?") in history and ("assistant", "Half an ans") not in history
    # A renewal that comes too late does not bring it back...
    assert not services.renew_lease(answer_id=dead.answer_id, text="more")
    assert Message.objects.get(pk=dead.answer_id).status == Status.INTERRUPTED
    # ...but a stream that was merely stalled still has the last word when it finishes.
    services.finish_turn(answer_id=dead.answer_id, text="Late but whole.", status=Status.COMPLETE)
    assert Message.objects.get(pk=dead.answer_id).status == Status.COMPLETE


def test_start_turn_refuses_over_the_daily_token_limit(
    offline, team, conversation, owner_membership
):
    first = _ask(conversation=conversation, membership=owner_membership, question="A")
    services.finish_turn(
        answer_id=first.answer_id,
        text="Answer.",
        status=Status.COMPLETE,
        usage=Usage(prompt_tokens=700, completion_tokens=300),
        model="moonshot-v1-8k",
    )
    team.max_tokens_per_day = 1000
    team.save(update_fields=["max_tokens_per_day"])
    owner_membership.workspace.refresh_from_db()  # as the next request loads it
    before = Message.objects.count()
    for regenerate in (False, True):
        with pytest.raises(services.OverLimit, match="used its 1,000 chat tokens"):
            _ask(
                conversation=conversation,
                membership=owner_membership,
                question="B",
                regenerate=regenerate,
            )
    assert Message.objects.count() == before
    team.max_tokens_per_day = 1001
    team.save(update_fields=["max_tokens_per_day"])
    owner_membership.workspace.refresh_from_db()
    _ask(conversation=conversation, membership=owner_membership, question="B")
    assert Message.objects.count() == before + 2


def test_the_written_out_scope_query_answers_as_the_orm_does(team, owner, conversation):
    from apps.documents.models import Status as DocumentStatus
    from apps.workspaces.services import create_workspace

    a = ready_document(team, "a.txt", "Alpha.")
    b = ready_document(team, "b.txt", "Beta.")
    c = ready_document(team, "c.txt", "Gamma.")
    c.status = DocumentStatus.FAILED
    c.save()
    elsewhere = create_workspace(owner=owner, name="Elsewhere")
    ready_document(elsewhere, "other.txt", "Other team's text.")

    def both(conv: Conversation) -> tuple[list, list]:
        written = [
            (d.id, d.name, d.token_count, d.content_hash) for d in selectors.scope_documents(conv)
        ]
        orm = [
            (pk, name, tokens, sha)
            for pk, name, _text, _version, tokens, sha in selectors._scope_queryset(
                conv
            ).values_list(*selectors._SCOPE_FIELDS)
        ]
        return written, orm

    written, orm = both(conversation)
    assert written == orm and [row[0] for row in written] == [a.pk, b.pk]
    conversation.scope_all = False
    conversation.save()
    conversation.documents.set([b, c])
    written, orm = both(conversation)
    assert written == orm and [row[0] for row in written] == [b.pk]
    assert [d.text for d in selectors.scope_documents(conversation)] == ["Beta."]


def test_the_written_out_conversation_and_history_queries_answer_as_the_orm_does(
    offline, team, owner, conversation, owner_membership
):
    from django.forms.models import model_to_dict

    from apps.workspaces.services import create_workspace

    elsewhere = create_workspace(owner=owner, name="Elsewhere")
    found = selectors.conversation_in(team, conversation.pk)
    expected = Conversation.objects.filter(workspace=team, pk=conversation.pk).first()
    assert model_to_dict(found) == model_to_dict(expected) and found.workspace is team
    assert found.created_at == expected.created_at and found.updated_at == expected.updated_at
    assert selectors.conversation_in(elsewhere, conversation.pk) is None
    assert selectors.conversation_in(team, conversation.pk + 1000) is None

    first = _ask(conversation=conversation, membership=owner_membership, question="Q1")
    services.finish_turn(answer_id=first.answer_id, text="A1", status=Status.COMPLETE)
    second = _ask(conversation=conversation, membership=owner_membership, question="Q2")
    services.finish_turn(answer_id=second.answer_id, text="", status=Status.STOPPED)
    third = _ask(conversation=conversation, membership=owner_membership, question="Q3")
    services.finish_turn(answer_id=third.answer_id, text="x", status=Status.FAILED)
    _ask(conversation=conversation, membership=owner_membership, question="Q4")  # streaming
    q3 = Message.objects.get(pk=third.question_id)
    for before in (None, q3.created_at):
        written = selectors.answered_history(conversation, before=before)
        orm = list(selectors._history_queryset(conversation, before).values_list("role", "content"))
        assert [tuple(row) for row in written] == orm
    assert [tuple(r) for r in selectors.answered_history(conversation)] == [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("user", "Q3"),
        ("user", "Q4"),
    ]
    assert len(selectors.answered_history(conversation, before=q3.created_at)) == 3

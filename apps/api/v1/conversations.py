"""/api/v1/conversations: create (with scope and model), list, messages, delete, and ask.

Ask answers with the browser's SSE stream (`stream: true` or `Accept: text/event-stream`),
events and all, or waits for the end and answers JSON. It is the browser's path
(apps.chat.services.start_turn, apps.chat.streaming.stream_turn) at the API's admission
priority, below people's questions.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Router
from ninja.responses import Status as Answer

from apps.chat import selectors, services
from apps.chat.models import Conversation
from apps.chat.streaming import stream_turn
from apps.chat.views import SSE_HEADERS
from apps.core.db import release_db_connections
from apps.moonshot.admission import Priority

from .. import answers, idempotency
from ..auth import ApiRequest
from ..errors import ApiError, not_found
from .common import actor, page_of
from .schemas import (
    AnswerOut,
    AskIn,
    ConversationIn,
    ConversationOut,
    ConversationPage,
    Error,
    MessageOut,
)

router = Router(tags=["conversations"])
ROUTE_ASK = "conversations.ask"


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "scope": "all" if conversation.scope_all else "some",
        "document_ids": sorted(d.pk for d in conversation.documents.all()),
        "model": conversation.model_choice,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }


def _conversation(request: ApiRequest, conversation_id: int) -> Conversation:
    conversation = selectors.conversation_in(request.workspace, conversation_id)
    if conversation is None:
        raise not_found()
    return conversation


def chat_error(error: services.ChatError) -> ApiError:
    """The API's answer to a refused turn or change (NotAllowed 403, OverLimit 429, else 400)."""
    if isinstance(error, services.NotAllowed):
        return ApiError(403, "forbidden", str(error))
    if isinstance(error, services.OverLimit):
        tomorrow = timezone.localdate() + timedelta(days=1)
        midnight = timezone.make_aware(datetime.combine(tomorrow, time.min))
        seconds = max(1, int((midnight - timezone.now()).total_seconds()))
        return ApiError(429, "daily_token_limit", str(error), headers={"Retry-After": str(seconds)})
    return ApiError(400, "invalid_request", str(error))


@router.post("", response={201: ConversationOut, 400: Error}, summary="Start a conversation")
def create(request: ApiRequest, body: ConversationIn) -> Any:
    membership = actor(request)
    try:
        with transaction.atomic():
            conversation = services.create_conversation(
                workspace=request.workspace,
                user=membership.user,
            )
            services.set_scope(
                conversation=conversation,
                membership=membership,
                scope_all=body.scope == "all",
                document_ids=body.document_ids,
                model_choice=body.model,
            )
            if body.title.strip():
                services.rename_conversation(
                    conversation=conversation, membership=membership, title=body.title
                )
    except services.ChatError as error:
        raise chat_error(error) from error
    return Answer(201, conversation_json(conversation))


@router.get("", response=ConversationPage, summary="List conversations, newest first")
def list_conversations(request: ApiRequest, page: int = 1, page_size: int = 50) -> Any:
    found = selectors.conversations(request.workspace).prefetch_related("documents")
    meta, items = page_of(found, page, page_size)
    return {**meta, "items": [conversation_json(c) for c in items]}


@router.get("/{conversation_id}", response={200: ConversationOut, 404: Error})
def get_conversation(request: ApiRequest, conversation_id: int) -> Any:
    return conversation_json(_conversation(request, conversation_id))


@router.get(
    "/{conversation_id}/messages",
    response={200: list[MessageOut], 404: Error},
    summary="The questions and answers, oldest first",
)
def messages(request: ApiRequest, conversation_id: int) -> Any:
    return list(selectors.conversation_messages(_conversation(request, conversation_id)))


@router.delete("/{conversation_id}", response={204: None, 403: Error, 404: Error})
def delete(request: ApiRequest, conversation_id: int) -> Any:
    conversation = _conversation(request, conversation_id)
    try:
        services.delete_conversation(conversation=conversation, membership=actor(request))
    except services.ChatError as error:
        raise chat_error(error) from error
    return HttpResponse(status=204)


def _start(request: ApiRequest, conversation_id: int, question: str, key: str) -> Any:
    """In the request's thread: the replayed first answer, or the prepared turn."""
    workspace = request.workspace
    try:
        conversation = _conversation(request, conversation_id)
        first = idempotency.claim(workspace, ROUTE_ASK, key)
        if first is not None:
            return answers.stored_answer(first.body["question_id"]) or first.body
        try:
            turn = services.start_turn(
                conversation=conversation, membership=actor(request), question=question
            )
        except services.ChatError as error:
            idempotency.release(workspace, ROUTE_ASK, key)
            raise chat_error(error) from error
        turn.priority = Priority.API
        idempotency.store(workspace, ROUTE_ASK, key, 200, {"question_id": turn.question_id})
        return turn
    finally:
        release_db_connections()  # none is held while the answer streams


@router.post(
    "/{conversation_id}/ask",
    response={200: AnswerOut, 400: Error, 403: Error, 404: Error, 429: Error, 502: AnswerOut},
    summary="Ask a question: JSON, or the browser's SSE events with stream=true",
)
async def ask(request: ApiRequest, conversation_id: int, body: AskIn) -> Any:
    """With `stream` (or `Accept: text/event-stream`) the answer comes as SSE, the events the
    browser gets (meta, queued, waiting, delta, html, quotes, sources, usage, error, done);
    else the whole answer as JSON (502 when it failed, with what was generated). With an
    Idempotency-Key a repeat is not asked again: the first answer is returned as JSON."""
    key = idempotency.key_of(request)
    prepared = await sync_to_async(_start)(request, conversation_id, body.question, key)
    if isinstance(prepared, dict):
        return JsonResponse(prepared)
    turn = prepared
    if body.stream or "text/event-stream" in request.headers.get("Accept", ""):
        return StreamingHttpResponse(
            stream_turn(turn),
            content_type="text/event-stream",
            charset="utf-8",
            headers=SSE_HEADERS,
        )
    summary = answers.Summary()
    async for name, data in answers.events(stream_turn(turn)):
        summary.add(name, data)
    result = summary.as_json(
        conversation_id=turn.conversation_id,
        question_id=turn.question_id,
        answer_id=turn.answer_id,
    )
    return Answer(200 if summary.done else 502, result)

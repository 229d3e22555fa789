"""Chat pages. Thin: access through the workspace helpers, logic in services and selectors."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from apps.core.db import release_db_connections
from apps.moonshot.catalogue import chat_models
from apps.moonshot.client import provider_configured
from apps.workspaces.access import WorkspaceRequest, workspace_view

from . import selectors, services
from .budget import budget_for
from .limits import tokens_today
from .markdown import render_markdown
from .models import Conversation, Role
from .streaming import stream_turn

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _conversation(request: WorkspaceRequest, conversation_id: int) -> Conversation:
    conversation = selectors.conversation_in(request.workspace, conversation_id)
    if conversation is None:
        raise Http404
    return conversation


# Answers are model output that may echo hostile documents: even if something slipped past the
# sanitiser, the page loads no remote image and talks to no other origin (reference §D6).
CHAT_PAGE_CSP = "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'self'"


@workspace_view()
@require_safe
def index(request: WorkspaceRequest) -> HttpResponse:
    """The newest conversation this member may ask in; the list (and search results) else."""
    if not request.GET.get("q"):
        latest = selectors.conversations(request.workspace, changeable_by=request.membership)
        if (conversation := latest.first()) is not None:
            return redirect("chat:detail", request.workspace.slug, conversation.pk)
    return render(request, "chat/index.html", _sidebar(request))


def _sidebar(request: WorkspaceRequest) -> dict[str, object]:
    query = request.GET.get("q", "")
    return {
        "conversations": selectors.conversations(request.workspace, query)[:100],
        "query": query,
    }


@workspace_view()
@require_POST
def create(request: WorkspaceRequest) -> HttpResponse:
    conversation = services.create_conversation(
        workspace=request.workspace, user=request.membership.user
    )
    return redirect("chat:detail", request.workspace.slug, conversation.pk)


@workspace_view()
@require_safe
def detail(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    # An answer whose stream died with its process shows as interrupted even if the periodic
    # sweep has not run yet (a stack without beat).
    services.interrupt_orphaned_answers(conversation_id=conversation.pk)
    documents = list(selectors.ready_documents(request.workspace))
    urls = selectors.citation_urls(request.workspace, documents)
    history = [
        (m, render_markdown(m.content, urls) if m.role == Role.ASSISTANT else "")
        for m in selectors.conversation_messages(conversation)
    ]
    response = render(
        request,
        "chat/detail.html",
        {
            **_sidebar(request),
            "conversation": conversation,
            "can_change": services.may_change(conversation, request.membership),
            "history": history,
            "last_id": history[-1][0].pk if history else None,
            "documents": documents,
            "selected": set(conversation.documents.values_list("pk", flat=True)),
            "models": chat_models(),
            "budget": budget_for(conversation),
            "offline": not provider_configured(),
            "daily_tokens": _daily_tokens(request),
        },
    )
    response["Content-Security-Policy"] = CHAT_PAGE_CSP
    return response


def _daily_tokens(request: WorkspaceRequest) -> dict[str, str] | None:
    """Today's chat tokens against the workspace's daily limit, when an admin set one."""
    limit = request.workspace.max_tokens_per_day
    if limit is None:
        return None
    return {"used": f"{tokens_today(request.workspace):,}", "limit": f"{limit:,}"}


def _forbidden(error: services.ChatError) -> HttpResponse:
    raise PermissionDenied(str(error)) from error


@workspace_view()
@require_POST
def rename(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        services.rename_conversation(
            conversation=conversation,
            membership=request.membership,
            title=request.POST.get("title", ""),
        )
    except services.NotAllowed as error:
        return _forbidden(error)
    except services.ChatError as error:
        messages.error(request, str(error))
    return redirect("chat:detail", request.workspace.slug, conversation.pk)


@workspace_view()
@require_POST
def delete(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        services.delete_conversation(conversation=conversation, membership=request.membership)
    except services.NotAllowed as error:
        return _forbidden(error)
    messages.success(request, _("Conversation deleted."))
    return redirect("chat:index", request.workspace.slug)


@workspace_view()
@require_POST
def scope(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    """Save the document scope and model; answer with the new token budget (JSON)."""
    conversation = _conversation(request, conversation_id)
    ids = [int(v) for v in request.POST.getlist("documents") if v.isdigit()]
    try:
        services.set_scope(
            conversation=conversation,
            membership=request.membership,
            scope_all=request.POST.get("scope") != "some",
            document_ids=ids,
            model_choice=request.POST.get("model", "auto"),
        )
    except services.NotAllowed as error:
        return JsonResponse({"message": str(error)}, status=403)
    except services.ChatError as error:
        return JsonResponse({"message": str(error)}, status=400)
    return JsonResponse(budget_for(conversation).as_json())


# The two streaming views are synchronous: the session, the user, the membership and
# `start_turn` all happen in the one thread hop Django makes for a sync view, and the response
# they return streams on the event loop (an async iterator) without a database connection.


@workspace_view(remember=False)
@require_POST
def ask(request: WorkspaceRequest, conversation_id: int) -> HttpResponseBase:
    """POST {"question": "…"} (JSON or form, with the CSRF header): the answer as SSE."""
    return _stream(request, conversation_id, regenerate=False)


@workspace_view(remember=False)
@require_POST
def regenerate(request: WorkspaceRequest, conversation_id: int) -> HttpResponseBase:
    """POST: replace the last answer with a new one, streamed like `ask`."""
    return _stream(request, conversation_id, regenerate=True)


def _question(request: HttpRequest) -> str:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return ""
        return str(data.get("question", "")) if isinstance(data, dict) else ""
    return request.POST.get("question", "")


def _stream(
    request: WorkspaceRequest, conversation_id: int, *, regenerate: bool
) -> HttpResponseBase:
    question = "" if regenerate else _question(request)
    try:
        turn = services.start_turn(
            conversation=_conversation(request, conversation_id),
            membership=request.membership,
            question=question,
            regenerate=regenerate,
        )
    except services.NotAllowed as error:
        return JsonResponse({"message": str(error), "retryable": False}, status=403)
    except services.OverLimit as error:
        return JsonResponse({"message": str(error), "retryable": False}, status=429)
    except services.ChatError as error:
        return JsonResponse({"message": str(error), "retryable": False}, status=400)
    finally:
        # Django would give the connection back when the response closes: after the answer.
        release_db_connections()
    # charset given: Django would otherwise parse it out of Content-Type for every frame.
    return StreamingHttpResponse(
        stream_turn(turn), content_type="text/event-stream", charset="utf-8", headers=SSE_HEADERS
    )

"""Chat pages. Thin: access through the workspace helpers, logic in services and selectors."""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from apps.moonshot.catalogue import chat_models
from apps.moonshot.client import provider_configured
from apps.workspaces.access import aworkspace_view, workspace_view
from apps.workspaces.models import Role

from . import selectors, services
from .budget import budget_for
from .markdown import render_markdown
from .models import Conversation
from .prompts import citation_label
from .streaming import stream_turn

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return get_object_or_404(Conversation, pk=conversation_id, workspace=request.workspace)


@workspace_view()
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    latest = selectors.conversations(request.workspace).first()
    if latest is not None and not request.GET.get("q"):
        return redirect("chat:detail", request.workspace.slug, latest.pk)
    return render(request, "chat/index.html", _sidebar(request))


def _sidebar(request: HttpRequest) -> dict:
    query = request.GET.get("q", "")
    return {
        "conversations": selectors.conversations(request.workspace, query)[:100],
        "query": query,
    }


@workspace_view()
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    conversation = services.create_conversation(workspace=request.workspace, user=request.user)
    return redirect("chat:detail", request.workspace.slug, conversation.pk)


@workspace_view()
@require_safe
def detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    history = list(selectors.conversation_messages(conversation))
    slug = request.workspace.slug
    documents = list(selectors.ready_documents(request.workspace))
    citation_urls = {
        citation_label(d.name): reverse("documents:detail", args=[slug, d.pk]) for d in documents
    }
    rendered = [
        (m, render_markdown(m.content, citation_urls) if m.role == "assistant" else "")
        for m in history
    ]
    selected = set(conversation.documents.values_list("pk", flat=True))
    return render(
        request,
        "chat/detail.html",
        {
            **_sidebar(request),
            "conversation": conversation,
            "history": rendered,
            "documents": documents,
            "selected": selected,
            "models": chat_models(),
            "budget": budget_for(conversation),
            "offline": not provider_configured(),
        },
    )


@workspace_view()
@require_POST
def rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        services.rename_conversation(
            conversation=conversation, membership=request.membership, title=request.POST.get("title", "")
        )
    except services.ChatError as error:
        messages.error(request, str(error))
    return redirect("chat:detail", request.workspace.slug, conversation.pk)


@workspace_view()
@require_POST
def delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        services.delete_conversation(conversation=conversation, membership=request.membership)
    except services.ChatError as error:
        messages.error(request, str(error))
        return redirect("chat:detail", request.workspace.slug, conversation.pk)
    messages.success(request, _("Conversation deleted."))
    return redirect("chat:index", request.workspace.slug)


@workspace_view()
@require_POST
def scope(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Save the document scope and model; answer with the new token budget (JSON)."""
    conversation = _conversation(request, conversation_id)
    ids = [int(v) for v in request.POST.getlist("documents") if v.isdigit()]
    try:
        services.set_scope(
            conversation=conversation,
            scope_all=request.POST.get("scope") != "some",
            document_ids=ids,
            model_choice=request.POST.get("model", "auto"),
        )
    except services.ChatError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse(budget_for(conversation).as_json())


@aworkspace_view(min_role=Role.VIEWER)
async def ask(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return await _stream(request, conversation_id, regenerate=False)


@aworkspace_view(min_role=Role.VIEWER)
async def regenerate(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return await _stream(request, conversation_id, regenerate=True)


async def _stream(request: HttpRequest, conversation_id: int, *, regenerate: bool) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    question = ""
    if not regenerate:
        try:
            question = str(json.loads(request.body or b"{}").get("question", ""))
        except ValueError:
            question = request.POST.get("question", "")

    def prepare() -> services.PreparedTurn:
        try:
            conversation = _conversation(request, conversation_id)
            return services.start_turn(
                conversation=conversation, user=request.user, question=question,
                regenerate=regenerate,
            )
        finally:
            close_old_connections()

    try:
        turn = await sync_to_async(prepare)()
    except services.ChatError as error:
        return JsonResponse({"error": str(error)}, status=400)
    # prepare() closed its database connection: none stays open while tokens flow.
    return StreamingHttpResponse(
        stream_turn(turn), content_type="text/event-stream", headers=SSE_HEADERS
    )

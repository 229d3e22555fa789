"""Share links: made from a conversation page, listed and revoked on the workspace's "Shared
links" page, opened at /s/<token>/. Thin: rules in services, reads in selectors."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from apps.chat import selectors as chat_selectors
from apps.workspaces.access import WorkspaceRequest, workspace_view

from . import selectors, services, snapshot
from .forms import ShareForm

# A shared page is read by people outside the workspace: search engines must not list it, the
# token must not leave in a Referer header, no cache may keep it past revocation, and (as on
# the chat page) the answers' HTML loads nothing from elsewhere.
SHARED_PAGE_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self';"
        " base-uri 'self'; frame-ancestors 'none'"
    ),
}


@workspace_view()
@require_POST
def create(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = chat_selectors.conversation_in(request.workspace, conversation_id)
    if conversation is None:
        raise Http404
    form = ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose who can open the link and when it expires."))
        return redirect("chat:detail", request.workspace.slug, conversation.pk)
    try:
        link = services.create_link(
            actor=request.membership,
            conversation=conversation,
            visibility=form.cleaned_data["visibility"],
            expires_at=form.expires_at(),
            request=request,
        )
    except services.NotAllowed as error:
        raise PermissionDenied(str(error)) from error
    except services.SharingError as error:
        messages.error(request, str(error))
        return redirect("chat:detail", request.workspace.slug, conversation.pk)
    messages.success(request, _("Share link created. Copy it below."))
    return redirect(f"{reverse('sharing:list', args=[request.workspace.slug])}#link-{link.pk}")


@workspace_view()
@require_safe
def links(request: WorkspaceRequest) -> HttpResponse:
    rows = [
        (link, request.build_absolute_uri(reverse("sharing:view", args=[link.token])))
        for link in selectors.links_for(request.membership)[:200]
    ]
    response = render(request, "sharing/list.html", {"links": rows})
    response["Cache-Control"] = "no-store"  # the page holds live links
    return response


@workspace_view()
@require_POST
def revoke(request: WorkspaceRequest, link_id: int) -> HttpResponse:
    link = selectors.link_in(request.membership, link_id)
    if link is None:
        raise Http404
    try:
        services.revoke_link(actor=request.membership, link=link, request=request)
    except services.NotAllowed as error:
        raise PermissionDenied(str(error)) from error
    messages.success(request, _("Link revoked: it no longer opens the conversation."))
    return redirect("sharing:list", request.workspace.slug)


@require_safe
def shared(request: HttpRequest, token: str) -> HttpResponse:
    """The snapshot behind a token: 404 for an unknown token (and, for a workspace-only link,
    for anyone signed in who is not a member; anonymous visitors are sent to log in first);
    410 with a page saying so for a revoked or expired link."""
    link = selectors.link_by_token(token)
    if link is None:
        raise Http404
    if not link.is_public:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not selectors.is_member(link, request.user.pk):
            raise Http404
    if not link.is_active:
        response = render(request, "sharing/gone.html", {"link": link}, status=410)
    else:
        response = render(
            request,
            "sharing/snapshot.html",
            {"link": link, "messages_shown": snapshot.render(link.snapshot)},
        )
    return _shared_headers(response)


def _shared_headers(response: HttpResponse) -> HttpResponse:
    for name, value in SHARED_PAGE_HEADERS.items():
        response[name] = value
    return response

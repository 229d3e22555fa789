"""The API keys section of the workspace settings page: create (the secret shown once, in the
response itself, never stored or put in the session) and revoke. Admins and owners only."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.workspaces.access import WorkspaceRequest, workspace_view
from apps.workspaces.forms import WorkspaceForm
from apps.workspaces.models import Role, Workspace

from . import selectors, services
from .forms import ApiKeyForm


def settings_context(workspace: Workspace, key_form: ApiKeyForm | None = None) -> dict[str, Any]:
    """What the settings page needs to show the keys (used by workspaces.views.settings_view)."""
    return {"api_keys": selectors.keys_of(workspace), "key_form": key_form or ApiKeyForm()}


def _expiry(day: Any) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.max), timezone.get_current_timezone())


@workspace_view(min_role=Role.ADMIN)
@require_POST
def create(request: WorkspaceRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    new_secret = None
    if form.is_valid():
        try:
            created = services.create_key(
                actor=request.membership,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                expires_at=_expiry(form.cleaned_data["expires_on"]),
                request=request,
            )
        except services.ApiKeyError as error:
            form.add_error(None, str(error))
        else:
            new_secret = created.secret
            form = ApiKeyForm()
    response = render(
        request,
        "workspaces/settings.html",
        {
            "form": WorkspaceForm(initial={"name": request.workspace.name}),
            **settings_context(request.workspace, form),
            "new_secret": new_secret,
        },
        status=200 if new_secret else 400,
    )
    response["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@workspace_view(min_role=Role.ADMIN)
@require_POST
def revoke(request: WorkspaceRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(selectors.keys_of(request.workspace), pk=key_id)
    services.revoke_key(actor=request.membership, key=key, request=request)
    messages.success(request, _("API key “%(name)s” revoked.") % {"name": key.name})
    return redirect("workspaces:settings", slug=request.workspace.slug)

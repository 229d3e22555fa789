"""Workspace pages. Thin: each view checks access through `workspace_view` and calls a service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from apps.accounts.requests import AuthenticatedRequest

from . import limits, selectors, services
from .access import WorkspaceRequest, workspace_view
from .forms import InvitationForm, RoleForm, WorkspaceForm
from .models import Invitation, Membership, Role


@login_required
def home(request: AuthenticatedRequest) -> HttpResponse:
    """Send the user to the workspace they used last, or their first one."""
    memberships = selectors.memberships_for(request.user)
    last = request.session.get("last_workspace")
    chosen = next((m for m in memberships if m.workspace.slug == last), None) or memberships.first()
    if chosen is None:
        return redirect("workspaces:create")
    return redirect("workspaces:detail", slug=chosen.workspace.slug)


@login_required
def create(request: AuthenticatedRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.create_workspace(
                owner=request.user, name=form.cleaned_data["name"]
            )
        except services.WorkspaceError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, _("Workspace created."))
            return redirect("workspaces:detail", slug=workspace.slug)
    return render(request, "workspaces/create.html", {"form": form})


@workspace_view()
@require_safe
def detail(request: WorkspaceRequest) -> HttpResponse:
    return render(
        request,
        "workspaces/detail.html",
        {
            "members": selectors.members_of(request.workspace),
            "usage": limits.usage_today(request.workspace),
        },
    )


@workspace_view()
@require_safe
def members(request: WorkspaceRequest) -> HttpResponse:
    return render(
        request,
        "workspaces/members.html",
        {
            "members": selectors.members_of(request.workspace),
            "invitations": selectors.pending_invitations(request.workspace)
            if request.membership.can_manage
            else [],
            "invite_form": InvitationForm(),
            "roles": Role.choices,
            "new_link": request.session.pop("new_invitation_link", None),
        },
    )


@workspace_view(min_role=Role.ADMIN)
@require_POST
def invite(request: WorkspaceRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("workspaces:members", slug=request.workspace.slug)
    try:
        _invitation, token = services.create_invitation(
            actor=request.membership,
            role=form.cleaned_data["role"],
            email=form.cleaned_data["email"],
            base_url=request.build_absolute_uri("/").rstrip("/"),
            request=request,
        )
    except services.WorkspaceError as error:
        messages.error(request, str(error))
    else:
        request.session["new_invitation_link"] = request.build_absolute_uri(
            f"/invitations/{token}/"
        )
        if form.cleaned_data["email"]:
            messages.success(request, _("Invitation sent."))
        else:
            messages.success(request, _("Invitation link created. It works once."))
    return redirect("workspaces:members", slug=request.workspace.slug)


@workspace_view(min_role=Role.ADMIN)
@require_POST
def revoke_invitation(request: WorkspaceRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, workspace=request.workspace)
    services.revoke_invitation(actor=request.membership, invitation=invitation, request=request)
    messages.success(request, _("Invitation revoked."))
    return redirect("workspaces:members", slug=request.workspace.slug)


@workspace_view(min_role=Role.ADMIN)
@require_POST
def change_role(request: WorkspaceRequest, membership_id: int) -> HttpResponse:
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, workspace=request.workspace
    )
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(
                actor=request.membership,
                target=target,
                role=form.cleaned_data["role"],
                request=request,
            )
        except services.WorkspaceError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Role changed."))
    else:
        messages.error(request, _("Unknown role."))
    return redirect("workspaces:members", slug=request.workspace.slug)


@workspace_view(min_role=Role.ADMIN)
@require_POST
def remove_member(request: WorkspaceRequest, membership_id: int) -> HttpResponse:
    target = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, workspace=request.workspace
    )
    try:
        services.remove_member(actor=request.membership, target=target, request=request)
    except services.WorkspaceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Member removed."))
    return redirect("workspaces:members", slug=request.workspace.slug)


@workspace_view()
@require_POST
def leave(request: WorkspaceRequest) -> HttpResponse:
    try:
        services.leave_workspace(membership=request.membership, request=request)
    except services.WorkspaceError as error:
        messages.error(request, str(error))
        return redirect("workspaces:members", slug=request.workspace.slug)
    request.session.pop("last_workspace", None)
    messages.success(request, _("You left %(name)s.") % {"name": request.workspace.name})
    return redirect("workspaces:home")


@workspace_view(min_role=Role.ADMIN)
def settings_view(request: WorkspaceRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None, initial={"name": request.workspace.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.rename_workspace(
                actor=request.membership, name=form.cleaned_data["name"], request=request
            )
        except services.WorkspaceError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, _("Workspace renamed."))
            return redirect("workspaces:settings", slug=request.workspace.slug)
    from apps.api.views import settings_context  # the API keys section of the page

    return render(
        request,
        "workspaces/settings.html",
        {"form": form, **settings_context(request.workspace)},
    )


def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Show the invitation; logged-in users accept with a POST, others sign up or log in first."""
    try:
        invitation = services.find_invitation(token)
    except services.WorkspaceError as error:
        return render(
            request, "workspaces/invitation_invalid.html", {"reason": str(error)}, status=410
        )
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.accept_invitation(user=request.user, token=token, request=request)
        except services.WorkspaceError as error:
            return render(
                request, "workspaces/invitation_invalid.html", {"reason": str(error)}, status=410
            )
        messages.success(request, _("Welcome to %(name)s.") % {"name": membership.workspace.name})
        return redirect("workspaces:detail", slug=membership.workspace.slug)
    return render(request, "workspaces/invitation.html", {"invitation": invitation})

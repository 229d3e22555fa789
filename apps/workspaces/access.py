"""The one access helper every workspace view goes through.

`workspace_view` resolves the workspace from the URL's ``slug`` and the user's membership. A user
who is not a member gets 404 for anything inside it (never 403, so nothing hints that the workspace
exists); a member below the role a view needs gets 403 with a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from .models import Membership, Role, Workspace


class WorkspaceRequest(HttpRequest):
    workspace: Workspace
    membership: Membership


def resolve_membership(user: Any, slug: str) -> Membership:
    """Return the user's membership of the workspace with this slug, or raise Http404."""
    if not getattr(user, "is_authenticated", False):
        raise Http404
    membership = (
        Membership.objects.select_related("workspace")
        .filter(workspace__slug=slug, user=user)
        .first()
    )
    if membership is None:
        raise Http404(_("No such workspace."))
    membership.user = user  # the request's own user: no second copy of the row to load
    return membership


def require_role(membership: Membership, role: Role) -> None:
    if not membership.role_enum.at_least(role):
        if role == Role.MEMBER:
            raise PermissionDenied(_("Viewers can read but not change anything in this workspace."))
        raise PermissionDenied(_("Only workspace owners and admins can do this."))


def workspace_view(
    min_role: Role = Role.VIEWER, *, remember: bool = True
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorate a view taking ``slug``; sets request.workspace and request.membership.

    With ``remember`` the session notes the workspace (where the home page returns to). The
    streaming chat endpoints pass False: they are calls from a page that already noted it, and
    a session write per question is a database write on a row every tab of the user shares.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = resolve_membership(request.user, slug)
            require_role(membership, min_role)
            request.membership = membership  # type: ignore[attr-defined]
            request.workspace = membership.workspace  # type: ignore[attr-defined]
            if remember and request.session.get("last_workspace") != slug:
                request.session["last_workspace"] = slug
            return view(request, *args, **kwargs)

        wrapped.workspace_min_role = min_role  # type: ignore[attr-defined]
        return wrapped

    return decorator

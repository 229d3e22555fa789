"""The one access helper every workspace view goes through.

`workspace_view` resolves the workspace from the URL's ``slug`` and the user's membership. A user
who is not a member gets 404 for anything inside it (never 403, so nothing hints that the workspace
exists); a member below the role a view needs gets 403 with a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _

from apps.accounts.requests import AuthenticatedRequest
from apps.core import rows

from .models import Membership, Role, Workspace


class WorkspaceRequest(AuthenticatedRequest):
    """The request a `workspace_view` view sees: the workspace of the URL and the user's
    membership of it, resolved and checked against the view's role."""

    workspace: Workspace
    membership: Membership


View = Callable[..., HttpResponseBase]


def resolve_membership(user: Any, slug: str) -> Membership:
    """Return the user's membership of the workspace with this slug (its workspace loaded), or
    raise Http404.

    Every workspace page and every chat question starts here, so the query is written out
    (apps/core/rows.py says why); it is `Membership.objects.select_related("workspace")
    .get(workspace__slug=slug, user=user)`, and a test holds the two to the same answers.
    """
    if not getattr(user, "is_authenticated", False):
        raise Http404
    with connection.cursor() as cursor:
        cursor.execute(_membership_sql(), [slug, user.pk])
        row = cursor.fetchone()
    if row is None:
        raise Http404(_("No such workspace."))
    membership, end = rows.instance(Membership, row)
    membership.workspace, _end = rows.instance(Workspace, row, end)
    membership.user = user  # the request's own user: no second copy of the row to load
    return membership


@cache
def _membership_sql() -> str:
    # Column names from the models' _meta; the slug and the user id go as parameters.
    return (
        f"SELECT {rows.columns(Membership, 'm')}, {rows.columns(Workspace, 'w')}"  # noqa: S608
        ' FROM "workspaces_membership" m'
        ' JOIN "workspaces_workspace" w ON w."id" = m."workspace_id"'
        ' WHERE w."slug" = %s AND m."user_id" = %s'
    )


def require_role(membership: Membership, role: Role) -> None:
    if not membership.role_enum.at_least(role):
        if role == Role.MEMBER:
            raise PermissionDenied(_("Viewers can read but not change anything in this workspace."))
        raise PermissionDenied(_("Only workspace owners and admins can do this."))


def workspace_view(
    min_role: Role = Role.VIEWER, *, remember: bool = True
) -> Callable[[View], View]:
    """Decorate a view taking ``slug``; sets request.workspace and request.membership.

    With ``remember`` the session notes the workspace (where the home page returns to). The
    streaming chat endpoints pass False: they are calls from a page that already noted it, and
    a session write per question is a database write on a row every tab of the user shares.
    """

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            membership = resolve_membership(request.user, slug)
            require_role(membership, min_role)
            # Filled in here, the request becomes the WorkspaceRequest the view is annotated with.
            workspace_request = cast(WorkspaceRequest, request)
            workspace_request.membership = membership
            workspace_request.workspace = membership.workspace
            if remember and request.session.get("last_workspace") != slug:
                request.session["last_workspace"] = slug
            return view(workspace_request, *args, **kwargs)

        # A function attribute (the role the view needs), which Callable does not declare.
        wrapped.workspace_min_role = min_role  # type: ignore[attr-defined]
        return wrapped

    return decorator

"""Helpers every /api/v1/ route shares: the acting membership, role checks, paging."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.translation import gettext as _

from apps.workspaces.models import Membership

from ..auth import ApiRequest
from ..errors import ApiError

MAX_PAGE_SIZE = 200


def actor(request: ApiRequest) -> Membership:
    return request.membership


def require_writer(request: ApiRequest) -> None:
    if not actor(request).can_write:
        raise ApiError(
            403,
            "forbidden",
            _("Viewers can read but not change anything in this workspace."),
        )


def page_of(queryset: Any, page: int, page_size: int) -> tuple[dict[str, Any], list[Any]]:
    """({"count", "page", "pages"}, the items of that page); pages past the end are empty."""
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApiError(
            422,
            "invalid_input",
            _("page must be at least 1 and page_size between 1 and %(n)d.") % {"n": MAX_PAGE_SIZE},
        )
    paginator = Paginator(queryset, page_size)
    items = list(paginator.page(page).object_list) if page <= paginator.num_pages else []
    return {"count": paginator.count, "page": page, "pages": paginator.num_pages}, items

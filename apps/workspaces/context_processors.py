"""Navigation data for the workspace switcher."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .selectors import memberships_for


def workspace_nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_memberships": memberships_for(user),
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": getattr(request, "membership", None),
    }

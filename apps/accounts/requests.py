"""The request type of views only a signed-in user reaches.

Django types ``request.user`` as ``User | AnonymousUser``; behind `login_required` (or the admin)
it is always our `User`, and annotating the view with `AuthenticatedRequest` says so to mypy.
"""

from __future__ import annotations

from django.http import HttpRequest

from .models import User


class AuthenticatedRequest(HttpRequest):
    """A request whose user is signed in, never anonymous."""

    user: User

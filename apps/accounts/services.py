"""Writes for accounts: registration creates the user and their personal workspace together."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from apps.workspaces.services import create_workspace

from .models import User


@transaction.atomic
def register_user(*, email: str, password: str, display_name: str = "") -> User:
    user = User.objects.create_user(email=email, password=password, display_name=display_name)
    create_workspace(
        owner=user, name=_("%(name)s's workspace") % {"name": user.label}, personal=True
    )
    return user

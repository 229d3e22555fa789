"""Writes for accounts: registration creates the user and tells the apps that build on it."""

from __future__ import annotations

from django.db import transaction

from .models import User
from .signals import user_registered


@transaction.atomic
def register_user(*, email: str, password: str | None, display_name: str = "") -> User:
    """Create the account (``password`` None: no usable password, e.g. single sign-on) and send
    ``user_registered`` in the same transaction (the workspaces app adds the personal
    workspace)."""
    user = User.objects.create_user(email=email, password=password, display_name=display_name)
    user_registered.send(sender=User, user=user)
    return user

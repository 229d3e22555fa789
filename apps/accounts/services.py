"""Writes for accounts: registration creates the user and tells the apps that build on it."""

from __future__ import annotations

from django.db import transaction

from .models import User
from .signals import first_single_sign_on, user_registered


@transaction.atomic
def register_user(*, email: str, password: str | None, display_name: str = "") -> User:
    """Create the account (``password`` None: no usable password, e.g. single sign-on) and send
    ``user_registered`` in the same transaction (the workspaces app adds the personal
    workspace)."""
    user = User.objects.create_user(email=email, password=password, display_name=display_name)
    user_registered.send(sender=User, user=user)
    return user


def registered_by_sso(user: User, *, verified_emails: list[str]) -> None:
    """A person new through single sign-on (allauth saved the user): what a password sign-up
    gets (``user_registered``), then ``first_single_sign_on`` (auto-join by e-mail domain)."""
    user_registered.send(sender=User, user=user)
    first_single_sign_on.send(sender=User, user=user, verified_emails=verified_emails)


def linked_by_sso(user: User, *, verified_emails: list[str]) -> None:
    """An existing account's first single sign-on (matched by verified e-mail)."""
    first_single_sign_on.send(sender=User, user=user, verified_emails=verified_emails)

"""Writes for accounts: registration creates the user and their personal workspace together;
a first single sign-on does the same, and may join the workspace of the e-mail's domain."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from apps.workspaces.models import Membership, Role, Workspace
from apps.workspaces.services import create_workspace

from .models import User

logger = logging.getLogger(__name__)


@transaction.atomic
def register_user(*, email: str, password: str, display_name: str = "") -> User:
    user = User.objects.create_user(email=email, password=password, display_name=display_name)
    create_workspace(
        owner=user, name=_("%(name)s's workspace") % {"name": user.label}, personal=True
    )
    return user


def set_up_sso_user(user: User, *, verified_emails: list[str]) -> None:
    """A person new through single sign-on: their personal workspace, then auto-join."""
    create_workspace(
        owner=user, name=_("%(name)s's workspace") % {"name": user.label}, personal=True
    )
    auto_join(user, verified_emails)


def auto_join(user: User, verified_emails: list[str]) -> list[Membership]:
    """Memberships `DOCQA_SSO_AUTO_JOIN` gives for these verified e-mails' domains.

    Only on a first single sign-on (new user, or first link of an existing one), so someone an
    admin removed is not put back at the next login. An existing membership keeps its role.
    What can fail: a rule naming a workspace that does not exist is skipped with a warning.
    """
    rules = settings.DOCQA_SSO_AUTO_JOIN
    joined = []
    for email in verified_emails:
        rule = rules.get(email.rpartition("@")[2].lower())
        if rule is None:
            continue
        slug, role = rule
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            logger.warning("DOCQA_SSO_AUTO_JOIN names workspace %r, which does not exist.", slug)
            continue
        membership, _created = Membership.objects.get_or_create(
            workspace=workspace, user=user, defaults={"role": Role(role)}
        )
        joined.append(membership)
    return joined

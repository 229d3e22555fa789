"""Signals of the accounts app.

They let the apps above accounts act on an account without accounts knowing them. Both are sent
inside the caller's transaction, so a receiver that fails rolls the whole action back.

- ``user_registered`` (kwargs: user): a new account, by password sign-up or single sign-on; the
  workspaces app gives it a personal workspace.
- ``first_single_sign_on`` (kwargs: user, verified_emails): a person's first sign-in through the
  identity provider (a new account, or an existing one linked by verified e-mail); the
  workspaces app applies ``DOCQA_SSO_AUTO_JOIN``. Not sent on later sign-ins, so someone an
  admin removed is not put back.
"""

from __future__ import annotations

from django.dispatch import Signal

user_registered = Signal()
first_single_sign_on = Signal()

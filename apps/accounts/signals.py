"""Signals of the accounts app.

``user_registered`` lets the apps above accounts act on a new account without accounts knowing
them: the workspaces app gives every new user a personal workspace. It is sent inside the
registration's transaction, so a receiver that fails rolls the whole registration back.
"""

from __future__ import annotations

from django.dispatch import Signal

user_registered = Signal()  # sender: User class; kwargs: user

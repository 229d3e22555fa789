"""Create the first admin account if none exists; print a generated password exactly once."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand

from apps.accounts.models import User
from apps.accounts.services import register_user


class Command(BaseCommand):
    help = "Create an admin (DOCQA_ADMIN_EMAIL / DOCQA_ADMIN_PASSWORD) if no superuser exists."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(is_superuser=True).exists():
            return
        email = os.environ.get("DOCQA_ADMIN_EMAIL", "admin@localhost")
        password = os.environ.get("DOCQA_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user = register_user(email=email, password=password, display_name="Admin")
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
        shown = (
            password if "DOCQA_ADMIN_PASSWORD" not in os.environ else "(from DOCQA_ADMIN_PASSWORD)"
        )
        self.stdout.write(
            self.style.SUCCESS(f"Created admin account {email} with password {shown} — shown once.")
        )

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = _("Audit log")

    def ready(self) -> None:
        # Sign-in, failed sign-in and sign-out come from Django's auth signals, which
        # django-allauth fires too: SSO sign-ins are recorded by the same handlers.
        from . import signals

        signals.connect()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    verbose_name = _("Chat")

    def ready(self) -> None:
        from apps.workspaces.limits import provide_usage

        from .limits import tokens_today

        provide_usage(tokens_today=tokens_today)

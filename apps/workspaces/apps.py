from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspacesConfig(AppConfig):
    name = "apps.workspaces"
    label = "workspaces"
    verbose_name = _("Workspaces")

    def ready(self) -> None:
        from apps.accounts.signals import user_registered

        from .services import create_personal_workspace

        user_registered.connect(create_personal_workspace, dispatch_uid="personal-workspace")

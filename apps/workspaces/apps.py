from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspacesConfig(AppConfig):
    name = "apps.workspaces"
    label = "workspaces"
    verbose_name = _("Workspaces")

    def ready(self) -> None:
        from apps.accounts.signals import first_single_sign_on, user_registered

        from .services import auto_join, create_personal_workspace

        user_registered.connect(create_personal_workspace, dispatch_uid="personal-workspace")
        first_single_sign_on.connect(auto_join, dispatch_uid="sso-auto-join")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MoonshotConfig(AppConfig):
    name = "apps.moonshot"
    label = "moonshot"
    verbose_name = _("Moonshot provider")

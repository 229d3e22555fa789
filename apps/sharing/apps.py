from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "apps.sharing"
    label = "sharing"
    verbose_name = _("Shared links")

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from apps.workspaces.models import Membership

        from .services import revoke_links_of_departing_member

        pre_delete.connect(
            revoke_links_of_departing_member, sender=Membership, dispatch_uid="revoke-links"
        )
